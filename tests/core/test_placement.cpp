// Device names and memory formats: unknown or unavailable devices name --device; channels-last
// placement converts 4-D parameters, buffers and inputs and nothing else.
#include <gtest/gtest.h>

#include <stdexcept>

#include "eshift/core/placement.h"

using namespace eshift;

TEST(Placement, DeviceNamesAreParsedOrNamedInTheError) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  for (const std::string bad : {"tpu", "cuda:x", ""}) {
    try {
      parse_device(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--device"), std::string::npos) << e.what();
    }
  }
  if (!torch::cuda::is_available()) {
    try {
      parse_device("cuda:1");
      ADD_FAILURE() << "cuda accepted without CUDA";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
    }
  }
}

TEST(Placement, ChannelsLastConvertsFourDimensionalTensorsOnly) {
  torch::nn::Sequential model(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)), torch::nn::BatchNorm2d(4),
                              torch::nn::Linear(4, 2));
  const Placement placement{torch::kCPU, true};
  placement.place(*model);
  for (const auto& p : model->parameters()) {
    if (p.dim() == 4) {
      EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast));
    } else {
      EXPECT_TRUE(p.is_contiguous());
    }
  }
  EXPECT_TRUE(placement.input(torch::randn({2, 3, 5, 5})).is_contiguous(torch::MemoryFormat::ChannelsLast));
  const Placement plain{torch::kCPU, false};
  EXPECT_TRUE(plain.input(torch::randn({2, 3, 5, 5})).is_contiguous());
  const auto labels = torch::zeros({2}, torch::kInt64);
  EXPECT_TRUE(torch::equal(placement.input(labels), labels));
}
