// A training configuration: every impossible value is refused with its flag named, the data
// directory defaults to the dataset's, and config.json records what the run resolved.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <stdexcept>

#include "eshift/train/config.h"

using namespace eshift;

TEST(TrainConfig, ImpossibleValuesNameTheirFlag) {
  const std::vector<std::pair<std::function<void(TrainConfig&)>, std::string>> cases = {
      {[](TrainConfig& c) { c.epochs = 0; }, "--epochs"},
      {[](TrainConfig& c) { c.batch_size = 1; }, "--batch-size"},
      {[](TrainConfig& c) { c.eval_batch_size = 0; }, "--eval-batch-size"},
      {[](TrainConfig& c) { c.train_subset = -5; }, "--train-subset"},
      {[](TrainConfig& c) { c.momentum = -0.5; }, "--momentum"},
      {[](TrainConfig& c) { c.dampening = 2; }, "--dampening"},
      {[](TrainConfig& c) { c.nesterov = true, c.momentum = 0; }, "--nesterov"},
      {[](TrainConfig& c) { c.crop_padding = -1; }, "--crop-padding"},
      {[](TrainConfig& c) { c.resume = true; }, "--resume needs --out"},
      {[](TrainConfig& c) { c.probe_every = -1; }, "--probe-every"},
      {[](TrainConfig& c) { c.data = "mnist-color"; }, "--data 'mnist-color'"},
      {[](TrainConfig& c) { c.model.name = "resnet9"; }, "resnet9"},
      {[](TrainConfig& c) { c.schedule.base_lr = 0; }, "--lr"},
      {[](TrainConfig& c) { c.decay.mineps = -1; }, "--mineps"},
  };
  for (const auto& [breaks, flag] : cases) {
    TrainConfig c;
    breaks(c);
    try {
      c.validate();
      ADD_FAILURE() << "accepted: " << flag;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
  const TrainConfig defaults;
  EXPECT_NO_THROW(defaults.validate());
}

TEST(TrainConfig, JsonRecordsTheDatasetAndTheResolvedDirectory) {
  TrainConfig c;
  auto j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j.at("data"), "fashion-mnist");
  EXPECT_EQ(j.at("data_dir"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(j.at("model").at("name"), "resnet20");
  c.data_dir = "/data/fmnist";
  c.decay.el2 = true;
  j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j.at("data_dir"), "/data/fmnist");
  EXPECT_EQ(j.at("el2"), true);
  EXPECT_EQ(c.resolved_data_dir(), "/data/fmnist");
}
