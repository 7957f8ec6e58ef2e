// --mineps auto: the product max|g|·r that the choice rests on is the same at any scale of a
// scale-invariant filter (autograd, float64), and the choice is ε = margin · S · P / 65504.
#include <gtest/gtest.h>

#include "eshift/nn/weight_family.h"
#include "eshift/observe/eps_calibration.h"
#include "eshift/observe/probe_record.h"

using namespace eshift;

namespace {
// A loss of the weight standardized per filter: invariant to the scale of each filter.
torch::Tensor ws_loss(const torch::Tensor& w, const torch::Tensor& c) {
  auto rows = w.reshape({w.size(0), -1});
  auto standardized = (rows - rows.mean(1, true)) / rows.std(1, /*unbiased=*/true, /*keepdim=*/true);
  return (standardized * c).pow(3).sum();
}
}  // namespace

TEST(EpsCalibration, TheProductItRestsOnIsTheSameAtAnyScaleOfTheFilter) {
  torch::manual_seed(3);
  auto base = torch::randn({4, 2, 3, 3}, torch::kFloat64);
  auto c = torch::randn({4, 18}, torch::kFloat64);
  std::vector<double> chosen;
  for (double scale : {1.0, 0.1, 1e-3}) {
    auto w = (base * scale).requires_grad_(true);
    ws_loss(w, c).backward();
    EpsCalibration calibration({{"conv.weight", w, ParamRole::NormalizedWeight, WeightFamily::WS, true}});
    calibration.observe();
    const auto choice = calibration.choose();
    ASSERT_EQ(choice.layers.size(), 1u);
    const auto& layer = choice.layers[0];
    chosen.push_back(layer.eps);
    // by hand: the largest over filters of max|g_f| · σ_f
    auto g = w.grad().reshape({4, -1}).abs().amax(1), sigma = w.detach().reshape({4, -1}).std(1, true);
    const double product = (g * sigma).max().item<double>();
    EXPECT_NEAR(layer.product, product, 1e-15 * product);
    EXPECT_NEAR(layer.eps, 2 * 65536 * product / kFloat16Max, 1e-15 * layer.eps);
    EXPECT_EQ(layer.name, "conv.weight");
    EXPECT_EQ(choice.steps, 1);
    EXPECT_EQ(layer.filters, 4);
    EXPECT_EQ(layer.below, sigma.lt(layer.eps).sum().item<int64_t>());
  }
  EXPECT_NEAR(chosen[1], chosen[0], 1e-10 * chosen[0]);  // the filter shrank 10×, the product did not
  EXPECT_NEAR(chosen[2], chosen[0], 1e-10 * chosen[0]);
}

TEST(EpsCalibration, KeepsEachLayersLargestProductOverStepsAndTheRadiusOfItsFamily) {
  auto a = torch::ones({2, 4}, torch::kFloat64), b = torch::ones({3, 2}, torch::kFloat64);
  a[0] = torch::tensor({0.0, 1.0, 2.0, 3.0}, torch::kFloat64);  // σ = 1.291, ‖w − μ‖ = 2.236, ‖w‖ = 3.742
  a[1] = torch::tensor({1.0, -1.0, 1.0, -1.0}, torch::kFloat64);
  b[0] = torch::tensor({3.0, 4.0}, torch::kFloat64);  // ‖w‖ = 5
  EpsCalibration calibration({{"a", a, ParamRole::NormalizedWeight, WeightFamily::CWN, true},
                              {"b", b, ParamRole::ConvWeight, WeightFamily::None, true}});
  a.mutable_grad() = torch::full({2, 4}, 0.1, torch::kFloat64);
  b.mutable_grad() = torch::full({3, 2}, 0.1, torch::kFloat64);
  calibration.observe();  // a: 0.1 · max(2.236, 2) = 0.2236; b: 0.1 · 5 = 0.5
  a.mutable_grad() = torch::full({2, 4}, 0.3, torch::kFloat64);
  b.mutable_grad() = torch::full({3, 2}, 0.01, torch::kFloat64);
  calibration.observe();  // a: 0.6708; b: 0.05
  const auto choice = calibration.choose(1024, 2);
  ASSERT_EQ(choice.layers.size(), 2u);
  EXPECT_NEAR(choice.layers[0].product, 0.3 * std::sqrt(5.0), 1e-12);  // each layer its own largest
  EXPECT_NEAR(choice.layers[1].product, 0.5, 1e-12);
  EXPECT_NEAR(choice.layers[0].eps, 2 * 1024 * 0.3 * std::sqrt(5.0) / kFloat16Max, 1e-15);
  EXPECT_NEAR(choice.layers[1].eps, 2 * 1024 * 0.5 / kFloat16Max, 1e-15);
  EXPECT_NEAR(choice.smallest_eps(), choice.layers[1].eps, 1e-18);
  EXPECT_EQ(choice.steps, 2);
  EXPECT_EQ(choice.describe().rfind("--mineps auto: ε per layer from ", 0), 0u) << choice.describe();
  EXPECT_NEAR(filter_radius(a, WeightFamily::WS)[0].item<double>(), std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_NEAR(filter_radius(a, WeightFamily::WN)[0].item<double>(), std::sqrt(14.0), 1e-12);
}
