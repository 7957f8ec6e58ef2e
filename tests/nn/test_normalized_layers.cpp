// The normalized layers: their formulas in float64, scale (and shift, where it holds) invariance of
// their outputs with δ = 0, and the roles they give their parameters.
#include <gtest/gtest.h>

#include "eshift/nn/normalized_layers.h"
#include "eshift/nn/param_roles.h"
#include "eshift/models/resnet.h"

using namespace eshift;

namespace {
double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

torch::nn::Conv2dOptions conv_options(int64_t groups = 1) {
  return torch::nn::Conv2dOptions(4, 6, 3).padding(1).groups(groups).bias(true);
}

// Runs `layer` on x, applies `change` to its weight, runs again.
template <typename Layer, typename Change>
std::pair<torch::Tensor, torch::Tensor> before_after(Layer& layer, const torch::Tensor& x, Change change) {
  torch::NoGradGuard no_grad;
  auto y0 = layer->forward(x);
  change(layer->weight);
  return {y0, layer->forward(x)};
}

torch::Tensor per_filter(int64_t out, double lo, double hi) {
  return torch::rand({out, 1, 1, 1}, torch::kFloat64) * (hi - lo) + lo;
}
}  // namespace

TEST(WeightFamily, StandardizedFiltersHaveZeroMeanAndUnitUnbiasedStd) {
  torch::manual_seed(1);
  auto w = torch::randn({8, 3, 3, 3}, torch::kFloat64) * 0.2 + 0.3;
  auto s = standardize_weight(w, {0.0, false}).reshape({8, -1});
  EXPECT_LT(max_abs(s.mean(1)), 1e-14);
  EXPECT_LT(max_abs(s.std(1, /*unbiased=*/true) - 1), 1e-13);
  // paper default: δ = 1e-5 outside the sqrt → std = σ/(σ + δ)
  auto sigma = w.reshape({8, -1}).std(1, true);
  auto d = standardize_weight(w).reshape({8, -1});
  EXPECT_LT(max_abs(d.std(1, true) - sigma / (sigma + 1e-5)), 1e-13);
  // δ inside the sqrt of the biased variance → biased var = var/(var + δ)
  auto var_b = w.reshape({8, -1}).var(1, /*unbiased=*/false);
  auto i = standardize_weight(w, {1e-3, true}).reshape({8, -1});
  EXPECT_LT(max_abs(i.var(1, false) - var_b / (var_b + 1e-3)), 1e-13);
}

TEST(WeightFamily, NormalizedFiltersHaveTheGainAsNorm) {
  torch::manual_seed(2);
  auto v = torch::randn({5, 2, 3, 3}, torch::kFloat64) + 0.5;
  auto g = torch::rand({5}, torch::kFloat64) + 0.5;
  EXPECT_LT(max_abs(filter_norm(weight_normalize(v, g)) - g), 1e-14);
  auto c = centered_weight_normalize(v, g);
  EXPECT_LT(max_abs(filter_norm(c) - g), 1e-14);
  EXPECT_LT(max_abs(filter_mean(c)), 1e-15);
}

TEST(NormalizedLayers, WSConvIsScaleAndShiftInvariantWithDeltaZero) {
  torch::manual_seed(3);
  for (int64_t groups : {1, 2}) {
    WSConv2d conv(conv_options(groups), WSOptions{0.0, false});
    conv->to(torch::kFloat64);
    auto x = torch::randn({2, 4, 7, 7}, torch::kFloat64);
    auto [a, b] = before_after(conv, x, [](torch::Tensor& w) { w.mul_(per_filter(6, 0.01, 50)); });
    EXPECT_LT(max_abs(a - b), 1e-12 * max_abs(a)) << "scale, groups " << groups;
    auto [c, d] = before_after(conv, x, [](torch::Tensor& w) { w.add_(per_filter(6, -3, 3)); });
    EXPECT_LT(max_abs(c - d), 1e-12 * max_abs(c)) << "shift, groups " << groups;
  }
}

TEST(NormalizedLayers, WSConvWithPaperDeltaIsOnlyApproximatelyScaleInvariant) {
  torch::manual_seed(4);
  WSConv2d conv(conv_options());
  conv->to(torch::kFloat64);
  auto x = torch::randn({2, 4, 7, 7}, torch::kFloat64);
  auto [c, d] = before_after(conv, x, [](torch::Tensor& w) { w.add_(0.7); });  // shift still exact
  EXPECT_LT(max_abs(c - d), 1e-12 * max_abs(c));
  auto [a, b] = before_after(conv, x, [](torch::Tensor& w) { w.sub_(0.7).mul_(1e-4); });  // σ shrinks toward δ
  EXPECT_GT(max_abs(a - b), 1e-3 * max_abs(a));
}

TEST(NormalizedLayers, WNIsScaleInvariantButNotShiftInvariant) {
  torch::manual_seed(5);
  WNConv2d conv(conv_options());
  conv->to(torch::kFloat64);
  auto x = torch::randn({2, 4, 7, 7}, torch::kFloat64);
  auto [a, b] = before_after(conv, x, [](torch::Tensor& w) { w.mul_(per_filter(6, 0.01, 50)); });
  EXPECT_LT(max_abs(a - b), 1e-12 * max_abs(a));
  auto [c, d] = before_after(conv, x, [](torch::Tensor& w) { w.add_(0.5); });
  EXPECT_GT(max_abs(c - d), 1e-3 * max_abs(c));

  WNLinear linear(torch::nn::LinearOptions(5, 3));
  linear->to(torch::kFloat64);
  auto z = torch::randn({4, 5}, torch::kFloat64);
  auto [e, f] = before_after(linear, z, [](torch::Tensor& w) { w.mul_(7.5); });
  EXPECT_LT(max_abs(e - f), 1e-12 * max_abs(e));
}

TEST(NormalizedLayers, CWNIsScaleAndShiftInvariant) {
  torch::manual_seed(6);
  CWNConv2d conv(conv_options());
  conv->to(torch::kFloat64);
  auto x = torch::randn({2, 4, 7, 7}, torch::kFloat64);
  auto [a, b] = before_after(conv, x, [](torch::Tensor& w) { w.mul_(per_filter(6, 0.01, 50)); });
  EXPECT_LT(max_abs(a - b), 1e-12 * max_abs(a));
  auto [c, d] = before_after(conv, x, [](torch::Tensor& w) { w.add_(per_filter(6, -3, 3)); });
  EXPECT_LT(max_abs(c - d), 1e-12 * max_abs(c));
}

TEST(NormalizedLayers, WNStartsAsThePlainConvItWasInitializedAs) {
  torch::manual_seed(7);
  WNConv2d wn(conv_options());  // float32: the gain is initialized as ‖v‖ in float32
  auto x = torch::randn({2, 4, 5, 5});
  torch::NoGradGuard no_grad;
  auto plain = torch::conv2d(x, wn->weight, wn->bias, 1, 1);
  EXPECT_LT(max_abs(wn->forward(x) - plain), 1e-5 * max_abs(plain));
}

TEST(NormalizedLayers, GradientsFlowToRawWeightAndGain) {
  torch::manual_seed(8);
  WNConv2d conv(conv_options());
  conv->forward(torch::randn({2, 4, 5, 5})).sum().backward();
  EXPECT_TRUE(conv->weight.grad().defined());
  EXPECT_TRUE(conv->gain.grad().defined());
  // scale invariance ⇒ ⟨∇L(W), W⟩ = 0 per filter (paper claim 1)
  auto inner = (conv->weight.grad() * conv->weight).reshape({6, -1}).sum(1);
  EXPECT_LT(max_abs(inner), 1e-4);
}

TEST(ParamRoles, ResNetParametersGetTheirRoles) {
  for (auto family : {WeightFamily::WS, WeightFamily::WN, WeightFamily::CWN, WeightFamily::None}) {
    ModelSpec spec;
    spec.name = "resnet8";
    spec.wnorm = family;
    ResNet model(spec);
    auto infos = describe_parameters(*model);
    ASSERT_EQ(infos.size(), model->parameters().size());
    int convs = 0;
    for (const auto& p : infos) {
      const bool is_conv_weight = p.tensor.dim() == 4;
      if (is_conv_weight) {
        ++convs;
        EXPECT_EQ(p.role, family == WeightFamily::None ? ParamRole::ConvWeight : ParamRole::NormalizedWeight) << p.name;
        EXPECT_EQ(p.family, family) << p.name;
        EXPECT_TRUE(p.per_filter);
      } else if (p.name == "fc.weight") {
        EXPECT_EQ(p.role, ParamRole::ClassifierWeight);
      } else if (p.name == "fc.bias") {
        EXPECT_EQ(p.role, ParamRole::Bias);
      } else if (p.name.find("gain") != std::string::npos || p.name.find("norm") != std::string::npos) {
        const bool shift = p.name.size() > 4 && p.name.substr(p.name.size() - 4) == "bias";
        EXPECT_EQ(p.role, shift ? ParamRole::NormShift : ParamRole::NormScale) << p.name;
      } else {
        ADD_FAILURE() << "unexpected parameter " << p.name;
      }
    }
    EXPECT_EQ(convs, 9);  // stem + 3 stages × (2 convs) + 2 projection shortcuts
  }
}

TEST(ParamRoles, DepthwiseConvsAreRecognizedFromTheLayer) {
  torch::nn::Sequential net(WSConv2d(torch::nn::Conv2dOptions(4, 4, 3).groups(4)),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 8, 3).groups(2)),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3)),  // 1-channel input: not depthwise
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 8, 3).groups(4).bias(false)));
  auto infos = describe_parameters(*net);
  ASSERT_EQ(infos.size(), 7u);
  EXPECT_EQ(infos[0].role, ParamRole::DepthwiseWeight);
  EXPECT_EQ(infos[0].family, WeightFamily::WS);
  EXPECT_EQ(infos[2].role, ParamRole::ConvWeight);  // grouped, 2 input channels per group
  EXPECT_EQ(infos[4].role, ParamRole::ConvWeight);
  EXPECT_EQ(infos[6].role, ParamRole::DepthwiseWeight);  // channel multiplier 2 is still depthwise
}

TEST(ParamRoles, UnknownLayersAreRefused) {
  torch::nn::Sequential net(torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  EXPECT_THROW(describe_parameters(*net), c10::Error);
}

TEST(ParamRoles, PlainConvFollowedByBatchNormIsScaleInvariant) {
  // "A plain conv followed by BN is scale-invariant too" (train-mode BN, float64).
  torch::manual_seed(9);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.wnorm = WeightFamily::None;
  ResNet model(spec);
  model->to(torch::kFloat64);
  model->train();
  auto x = torch::randn({8, 3, 12, 12}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto before = model->forward(x);
  for (auto& p : describe_parameters(*model))
    if (p.role == ParamRole::ConvWeight) p.tensor.mul_(3.0);
  auto after = model->forward(x);
  // BN's own ε (1e-5) under the variance breaks exactness slightly
  EXPECT_LT(max_abs(after - before), 1e-3 * max_abs(before));
}
