// The model registry: names to models, errors that name the model, the spec's JSON, parameter
// counts of the standard layouts, and FLOPs counted from the built model against a hand count.
#include <gtest/gtest.h>

#include <stdexcept>

#include "eshift/models/flops.h"
#include "eshift/models/registry.h"
#include "eshift/models/resnet.h"
#include "eshift/nn/normalized_layers.h"

using namespace eshift;

namespace {
std::string error_of(const ModelSpec& spec) {
  try {
    spec.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

int64_t count_parameters(Model& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

// The conv FLOPs of a ResNet by walking its architecture by hand (what eshift did before it counted
// the built model): 2·C_in·k²·C_out·H_out·W_out per conv, "same" padding.
double hand_count(const std::string& name, int64_t in_channels, int64_t width, int64_t h, int64_t w) {
  double flops = 0;
  auto conv = [&](int64_t in, int64_t out, int64_t k, int64_t stride, int64_t& hh, int64_t& ww) {
    hh = (hh + 2 * (k / 2) - k) / stride + 1;
    ww = (ww + 2 * (k / 2) - k) / stride + 1;
    flops += 2.0 * in * k * k * out * hh * ww;
  };
  if (name == "resnet50") {
    conv(in_channels, 64, 7, 2, h, w);
    h = (h + 2 - 3) / 2 + 1;  // max pool 3×3/2
    w = (w + 2 - 3) / 2 + 1;
    int64_t in = 64;
    const int counts[4] = {3, 4, 6, 3};
    for (int stage = 0; stage < 4; ++stage)
      for (int b = 0; b < counts[stage]; ++b) {
        const int64_t mid = 64 << stage, stride = (stage > 0 && b == 0) ? 2 : 1;
        int64_t sh = h, sw = w;  // the shortcut sees the block's input
        conv(in, mid, 1, 1, h, w);
        conv(mid, mid, 3, stride, h, w);
        conv(mid, 4 * mid, 1, 1, h, w);
        if (stride != 1 || in != 4 * mid) conv(in, 4 * mid, 1, stride, sh, sw);
        in = 4 * mid;
      }
  } else {  // resnet20
    conv(in_channels, width, 3, 1, h, w);
    int64_t in = width;
    for (int stage = 0; stage < 3; ++stage)
      for (int b = 0; b < 3; ++b) {
        const int64_t out = width << stage, stride = (stage > 0 && b == 0) ? 2 : 1;
        int64_t sh = h, sw = w;
        conv(in, out, 3, stride, h, w);
        conv(out, out, 3, 1, h, w);
        if (stride != 1 || in != out) conv(in, out, 1, stride, sh, sw);
        in = out;
      }
  }
  return flops;
}
}  // namespace

TEST(ModelRegistry, NamesResolveToTheirLayouts) {
  EXPECT_EQ(find_model("resnet50").names, "resnet18, resnet34, resnet50, resnet101, resnet152");
  EXPECT_EQ(find_model("resnet18").names, find_model("resnet152").names);  // not a CIFAR depth
  EXPECT_NE(find_model("resnet110").names.find("resnet<6n+2>"), std::string::npos);
  try {
    find_model("vgg16");
    FAIL() << "vgg16 accepted";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown model 'vgg16'"), std::string::npos) << message;
    EXPECT_NE(message.find("resnet<6n+2>"), std::string::npos) << message;  // lists what is known
  }
  ModelSpec spec;
  spec.name = "resnet7";
  EXPECT_NE(error_of(spec).find("6n+2"), std::string::npos);
  spec.name = "resnet";
  EXPECT_NE(error_of(spec).find("unknown model 'resnet'"), std::string::npos);
  spec.name = "resnet20";
  spec.norm = "ln";
  EXPECT_NE(error_of(spec).find("--norm"), std::string::npos);
  spec.norm = "bn";
  spec.ws.delta = -1;
  EXPECT_NE(error_of(spec).find("--ws-delta"), std::string::npos);
}

TEST(ModelRegistry, BuildsTheStandardResNet50) {
  // torchvision's resnet50 (no conv biases, BN, 1000 classes) has 25,557,032 parameters
  ModelSpec spec;
  spec.name = "resnet50";
  spec.wnorm = WeightFamily::None;
  spec.num_classes = 1000;
  auto model = build_model(spec);
  EXPECT_EQ(count_parameters(*model), 25557032);
  EXPECT_EQ(model->spec(), spec);
  EXPECT_EQ(model->forward(torch::zeros({2, 3, 64, 64})).sizes(), (std::vector<int64_t>{2, 1000}));
}

TEST(ModelRegistry, FamilyAndNormAreOptionsOfEveryLayer) {
  ModelSpec spec;
  spec.name = "resnet8";
  spec.wnorm = WeightFamily::CWN;
  spec.norm = "gn";
  spec.in_channels = 1;
  auto model = build_model(spec);
  int cwn = 0, gn = 0;
  for (const auto& m : model->modules(/*include_self=*/false)) {
    cwn += m->as<CWNConv2d>() != nullptr;
    gn += m->as<torch::nn::GroupNorm>() != nullptr;
  }
  EXPECT_EQ(cwn, 9);  // 7 convs + 2 shortcut convs
  EXPECT_EQ(gn, 9);
}

TEST(ModelSpec, JsonRoundTripKeepsEveryField) {
  ModelSpec spec;
  spec.name = "resnet32";
  spec.wnorm = WeightFamily::WN;
  spec.norm = "gn";
  spec.gn_groups = 4;
  spec.ws.delta = 1e-6;
  spec.ws.delta_inside_sqrt = true;
  spec.in_channels = 1;
  spec.num_classes = 7;
  spec.width = 8;
  const auto back = ModelSpec::from_json(spec.to_json());
  EXPECT_EQ(back.to_json(), spec.to_json());
  EXPECT_EQ(back.wnorm, WeightFamily::WN);
  EXPECT_EQ(back.num_classes, 7);
}

TEST(Flops, CountedFromTheBuiltModelEqualTheHandCount) {
  ModelSpec cifar;
  cifar.name = "resnet20";
  auto resnet20 = build_model(cifar);
  EXPECT_DOUBLE_EQ(conv_forward_flops(*resnet20, 32, 32), hand_count("resnet20", 3, 16, 32, 32));
  // by hand: stem 442,368 + stage 1 14,155,776 + stages 2 and 3 13,107,200 each (with the 1×1 shortcuts)
  EXPECT_DOUBLE_EQ(conv_forward_flops(*resnet20, 32, 32), 2.0 * 40812544);
  ModelSpec imagenet;
  imagenet.name = "resnet50";
  imagenet.num_classes = 1000;
  auto resnet50 = build_model(imagenet);
  EXPECT_DOUBLE_EQ(conv_forward_flops(*resnet50, 224, 224), hand_count("resnet50", 3, 64, 224, 224));
  // counting runs in eval mode and leaves the model as it was
  resnet50->train();
  conv_forward_flops(*resnet50, 64, 64);
  EXPECT_TRUE(resnet50->is_training());
}
