// The ImageNet model zoo: parameter counts against torchvision's and against counts derived here by
// formula (MobileNetV1, ShuffleNetV1), one training step of every model for every weight family and
// norm, parameter roles (depthwise vs grouped convs), torchvision's module names, and FLOPs of
// depthwise and grouped convs against a hand count.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "eshift/models/flops.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "eshift/nn/param_roles.h"

using namespace eshift;

namespace {
ModelSpec zoo_spec(const std::string& name, WeightFamily wnorm = WeightFamily::None, const std::string& norm = "bn",
                  int64_t classes = 1000) {
  ModelSpec spec;
  spec.name = name;
  spec.wnorm = wnorm;
  spec.norm = norm;
  spec.num_classes = classes;
  return spec;
}

int64_t parameter_count(Model& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

// MobileNetV1's 13 depthwise-separable blocks: (C_in, C_out, stride), Howard et al. 2017, Table 1
std::vector<std::vector<int64_t>> mobilenet_blocks() {
  std::vector<std::vector<int64_t>> blocks = {{32, 64, 1}, {64, 128, 2}, {128, 128, 1}, {128, 256, 2},
                                              {256, 256, 1}, {256, 512, 2}};
  for (int i = 0; i < 5; ++i) blocks.push_back({512, 512, 1});
  blocks.push_back({512, 1024, 2});
  blocks.push_back({1024, 1024, 1});
  return blocks;
}

// ShuffleNetV1 g = 3 units: (C_in, C_out, stride, groups of the first 1×1), Zhang et al., Table 1
std::vector<std::vector<int64_t>> shufflenet_v1_units() {
  std::vector<std::vector<int64_t>> units;
  const int64_t repeats[3] = {4, 8, 4}, out[3] = {240, 480, 960};
  int64_t in = 24;
  for (int s = 0; s < 3; ++s)
    for (int u = 0; u < repeats[s]; ++u) {
      units.push_back({in, out[s], u == 0 ? 2 : 1, (s == 0 && u == 0) ? 1 : 3});
      in = out[s];
    }
  return units;
}
}  // namespace

TEST(Zoo, ParameterCountsEqualTorchvisions) {
  // torchvision's models (conv weights bias-free, BN γ and β, classifier with bias, 1000 classes)
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"resnet18", 11689512},        {"resnet34", 21797672},         {"resnet50", 25557032},
      {"resnet101", 44549160},       {"resnet152", 60192808},        {"resnext50_32x4d", 25028904},
      {"resnext101_32x8d", 88791336}, {"densenet201", 20013928},     {"shufflenet_v2_x1_0", 2278604}};
  for (const auto& [name, count] : expected) {
    auto model = build_model(zoo_spec(name));
    EXPECT_EQ(parameter_count(*model), count) << name;
  }
}

TEST(Zoo, MobileNetV1AndShuffleNetV1CountsFollowTheirFormulas) {
  // MobileNetV1: stem conv 3·3²·32 + BN; per block depthwise 9·C_in + BN, pointwise C_in·C_out + BN; fc with bias
  int64_t mobilenet = 27 * 32 + 2 * 32 + 1024 * 1000 + 1000;
  for (const auto& b : mobilenet_blocks()) mobilenet += 9 * b[0] + 2 * b[0] + b[0] * b[1] + 2 * b[1];
  EXPECT_EQ(mobilenet, 4231976);  // the paper's "4.2 million"
  EXPECT_EQ(parameter_count(*build_model(zoo_spec("mobilenet_v1"))), mobilenet);
  // ShuffleNetV1 g = 3: stem conv 3·3²·24 + BN; per unit, m = out/4 and o = out − in (stride 2) or out:
  // 1×1 in·m/g1 + BN, depthwise 9·m + BN, grouped 1×1 m·o/3 + BN; fc 960 → 1000 with bias
  int64_t shufflenet = 27 * 24 + 2 * 24 + 960 * 1000 + 1000;
  for (const auto& u : shufflenet_v1_units()) {
    const int64_t m = u[1] / 4, o = u[2] == 2 ? u[1] - u[0] : u[1];
    shufflenet += u[0] * m / u[3] + 2 * m + 9 * m + 2 * m + m * o / 3 + 2 * o;
  }
  EXPECT_EQ(shufflenet, 1865728);  // the paper's "~1.9M"
  EXPECT_EQ(parameter_count(*build_model(zoo_spec("shufflenet_v1_g3"))), shufflenet);
}

namespace {
// Builds `spec` (10 classes), checks that every parameter has a role, runs one SGD step on a batch of
// 2 of 3×32×32 (the last stage of the ImageNet layouts runs at 1×1) and checks the output's shape
// and that every parameter got a finite gradient.
void train_one_step(const std::string& name, WeightFamily wnorm, const std::string& norm) {
  SCOPED_TRACE(name + " " + family_name(wnorm) + " " + norm);
  torch::manual_seed(0);
  auto model = build_model(zoo_spec(name, wnorm, norm, 10));
  const auto roles = describe_parameters(*model);  // throws on a parameter without a role
  EXPECT_EQ(roles.size(), model->parameters().size());
  const auto out = model->forward(torch::randn({2, 3, 32, 32}));
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 10}));
  torch::nn::functional::cross_entropy(out, torch::tensor({3, 7})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    ASSERT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
  torch::optim::SGD(model->parameters(), 0.1).step();
}
}  // namespace

TEST(Zoo, EveryModelTrainsOneStepForEveryFamilyAndNorm) {
  // every block type and layout: basic, bottleneck, grouped bottleneck, dense, depthwise separable,
  // ShuffleNet V1 and V2 units, with every weight family and both norms
  for (const char* name : {"resnet18", "resnet50", "resnext50_32x4d", "densenet201", "mobilenet_v1",
                           "shufflenet_v1_g3", "shufflenet_v2_x1_0"})
    for (auto wnorm : {WeightFamily::None, WeightFamily::WS, WeightFamily::WN, WeightFamily::CWN})
      for (const char* norm : {"bn", "gn"}) train_one_step(name, wnorm, norm);
  // the deeper members of those families are the same blocks in other numbers (and widths): one step
  // each, WS + BN (the paper's setting), keeps this test at ~30 s on one thread instead of ~75 s
  for (const char* name : {"resnet34", "resnet101", "resnet152", "resnext101_32x8d"})
    train_one_step(name, WeightFamily::WS, "bn");
}

TEST(Zoo, DepthwiseConvsHaveTheirOwnRoleGroupedConvsTheOrdinaryOne) {
  // (model, a depthwise weight, a grouped non-depthwise weight or "", depthwise convs in the model)
  const std::vector<std::tuple<std::string, std::string, std::string, int>> cases = {
      {"mobilenet_v1", "blocks.12.dw_conv.weight", "", 13},
      {"shufflenet_v2_x1_0", "stage2.0.branch1.0.weight", "", 3 * 2 + 3 + 7 + 3},  // first units: both branches
      {"shufflenet_v1_g3", "stage2.0.conv2.weight", "stage3.1.conv3.weight", 16},
      {"resnext50_32x4d", "", "stages.0.conv2.weight", 0},
  };
  for (const auto& [name, depthwise, grouped, count] : cases)
    for (auto wnorm : {WeightFamily::None, WeightFamily::WS, WeightFamily::CWN}) {
      SCOPED_TRACE(name + " " + family_name(wnorm));
      auto model = build_model(zoo_spec(name, wnorm, "bn", 10));
      const auto ordinary = wnorm == WeightFamily::None ? ParamRole::ConvWeight : ParamRole::NormalizedWeight;
      int depthwise_count = 0;
      for (const auto& info : describe_parameters(*model)) {
        depthwise_count += info.role == ParamRole::DepthwiseWeight;
        if (info.name == depthwise) {
          EXPECT_EQ(info.role, ParamRole::DepthwiseWeight);
          EXPECT_EQ(info.tensor.size(1), 1);  // one input channel per filter
        }
        if (info.name == grouped) {
          EXPECT_EQ(info.role, ordinary);
          EXPECT_GT(info.tensor.size(1), 1);
        }
        if (info.role == ParamRole::DepthwiseWeight && wnorm != WeightFamily::None) {
          EXPECT_EQ(info.family, wnorm);
        }
      }
      EXPECT_EQ(depthwise_count, count);
    }
}

TEST(Zoo, ModuleNamesAreTorchvisions) {
  auto names_of = [](torch::nn::Module& model) {
    std::set<std::string> names;
    for (const auto& p : model.named_parameters()) names.insert(p.key());
    for (const auto& b : model.named_buffers()) names.insert(b.key());
    return names;
  };
  auto densenet = build_model(zoo_spec("densenet201"));
  const auto dn = names_of(*densenet);
  for (const char* key : {"features.conv0.weight", "features.norm0.weight", "features.norm0.running_mean",
                          "features.denseblock1.denselayer1.norm1.weight", "features.denseblock1.denselayer1.conv1.weight",
                          "features.denseblock1.denselayer1.norm2.bias", "features.denseblock1.denselayer1.conv2.weight",
                          "features.denseblock3.denselayer48.conv2.weight", "features.transition3.norm.weight",
                          "features.transition3.conv.weight", "features.denseblock4.denselayer32.norm1.running_var",
                          "features.norm5.weight", "classifier.weight", "classifier.bias"})
    EXPECT_TRUE(dn.count(key)) << key;
  // 1920 features: 64 → 256 → 128 → 512 → 256 → 1792 → 896 → 1920; the last layer sees 896 + 31·32
  const auto params = densenet->named_parameters();
  EXPECT_EQ(params["features.denseblock4.denselayer32.norm1.weight"].size(0), 1888);
  EXPECT_EQ(params["features.transition3.conv.weight"].sizes(), (std::vector<int64_t>{896, 1792, 1, 1}));
  EXPECT_EQ(params["classifier.weight"].sizes(), (std::vector<int64_t>{1000, 1920}));

  auto shufflenet = build_model(zoo_spec("shufflenet_v2_x1_0"));
  const auto sn = names_of(*shufflenet);
  for (const char* key : {"conv1.0.weight", "conv1.1.weight", "conv1.1.running_mean", "stage2.0.branch1.0.weight",
                          "stage2.0.branch1.1.weight", "stage2.0.branch1.2.weight", "stage2.0.branch1.3.bias",
                          "stage2.0.branch2.0.weight", "stage2.0.branch2.1.weight", "stage2.0.branch2.3.weight",
                          "stage2.0.branch2.4.weight", "stage2.0.branch2.5.weight", "stage2.0.branch2.6.weight",
                          "stage4.3.branch2.6.running_var", "conv5.0.weight", "conv5.1.bias", "fc.weight", "fc.bias"})
    EXPECT_TRUE(sn.count(key)) << key;
  EXPECT_FALSE(sn.count("stage2.1.branch1.0.weight"));  // stride-1 units have no branch1
  EXPECT_EQ(shufflenet->named_parameters()["stage3.0.branch2.0.weight"].sizes(), (std::vector<int64_t>{116, 116, 1, 1}));

  // the ResNets keep eshift's names (checkpoints depend on them)
  auto resnet = build_model(zoo_spec("resnet18"));
  const auto rn = names_of(*resnet);
  for (const char* key : {"conv1.weight", "norm1.weight", "stages.0.conv1.weight", "stages.0.norm2.bias",
                          "stages.2.shortcut_conv.weight", "stages.2.shortcut_norm.weight", "fc.weight"})
    EXPECT_TRUE(rn.count(key)) << key;
  EXPECT_FALSE(rn.count("stages.1.shortcut_conv.weight"));  // stage 1 keeps 64 channels at stride 1
}

TEST(Zoo, FlopsOfDepthwiseAndGroupedConvsEqualTheHandCount) {
  // 2 · H_out·W_out · C_out · (C_in/groups) · k² per conv, "same" padding, at 224×224
  auto out_size = [](int64_t size, int64_t stride) { return (size - 1) / stride + 1; };
  double macs = 0;
  int64_t h = out_size(224, 2);
  macs += double(h * h) * 32 * 3 * 9;  // stem
  for (const auto& b : mobilenet_blocks()) {
    h = out_size(h, b[2]);
    macs += double(h * h) * b[0] * 9 + double(h * h) * b[0] * b[1];  // depthwise: one input channel per filter
  }
  auto mobilenet = build_model(zoo_spec("mobilenet_v1"));
  EXPECT_DOUBLE_EQ(conv_forward_flops(*mobilenet, 224, 224), 2 * macs);
  EXPECT_NEAR((macs + 1024 * 1000) / 1e6, 569, 1);  // the paper: 569 million multiply-adds

  macs = 0;
  h = out_size(224, 2);
  macs += double(h * h) * 24 * 3 * 9;
  h = out_size(h, 2);  // max pool
  for (const auto& u : shufflenet_v1_units()) {
    const int64_t m = u[1] / 4, o = u[2] == 2 ? u[1] - u[0] : u[1];
    macs += double(h * h) * m * u[0] / u[3];  // first 1×1, g1 groups
    h = out_size(h, u[2]);
    macs += double(h * h) * m * 9 + double(h * h) * o * m / 3;  // depthwise, grouped 1×1
  }
  auto shufflenet = build_model(zoo_spec("shufflenet_v1_g3"));
  EXPECT_DOUBLE_EQ(conv_forward_flops(*shufflenet, 224, 224), 2 * macs);
  EXPECT_NEAR((macs + 960 * 1000) / 1e6, 137, 3);  // the paper's Table 2: 137 MFLOPs (multiply-adds)
}

namespace eshift {
namespace {

TEST(Zoo, ResNetFeaturesAreItsStagesOutputsAndTheClassifierReadsTheLast) {
  torch::manual_seed(0);
  auto resnet = build_model(zoo_spec("resnet50"));
  resnet->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 64, 64});
  const auto c = resnet->features(x);
  ASSERT_EQ(c.size(), 4u);
  const int64_t channels[] = {256, 512, 1024, 2048}, sides[] = {16, 8, 4, 2};  // strides 4, 8, 16, 32
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(c[i].sizes(), (std::vector<int64_t>{2, channels[i], sides[i], sides[i]})) << i;
  EXPECT_EQ(resnet->feature_channels(), (std::vector<int64_t>{256, 512, 1024, 2048}));
  auto params = resnet->named_parameters();
  const auto logits = torch::linear(torch::adaptive_avg_pool2d(c[3], {1, 1}).flatten(1), params["fc.weight"],
                                    params["fc.bias"]);
  EXPECT_TRUE(torch::equal(logits, resnet->forward(x)));

  auto cifar = build_model(zoo_spec("resnet20"));
  EXPECT_EQ(cifar->feature_channels().size(), 3u);
  EXPECT_EQ(cifar->features(torch::randn({1, 3, 32, 32})).back().sizes(),
            (std::vector<int64_t>{1, cifar->feature_channels().back(), 8, 8}));
  EXPECT_THROW(build_model(zoo_spec("mobilenet_v1"))->features(x), c10::Error);
}

}  // namespace
}  // namespace eshift
