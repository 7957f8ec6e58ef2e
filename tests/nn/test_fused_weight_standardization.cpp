// The fused weight standardization against the composition of LibTorch's ops (autograd) in float64,
// against central finite differences, and in float32 against float64; where it does not apply it
// leaves the work to the composition.
#include <gtest/gtest.h>

#include "eshift/nn/fused_weight_standardization.h"
#include "eshift/nn/weight_family.h"

using namespace eshift;

namespace {
double largest_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// standardize_weight with the fused function switched on or off; restores the switch
struct FusedWSSwitch {
  explicit FusedWSSwitch(bool on) : was(fused_weight_standardization_enabled()) { set_fused_weight_standardization(on); }
  ~FusedWSSwitch() { set_fused_weight_standardization(was); }
  bool was;
};

// ŵ and ∂(Σ g·ŵ)/∂w of standardize_weight(w), fused or composed
std::pair<torch::Tensor, torch::Tensor> value_and_grad(const torch::Tensor& w0, const torch::Tensor& g,
                                                       const WSOptions& o, bool fused) {
  FusedWSSwitch on(fused);
  auto w = w0.detach().clone(at::MemoryFormat::Preserve).requires_grad_();
  EXPECT_EQ(fused_weight_standardization_applies(w), fused);
  auto y = standardize_weight(w, o);
  (y * g).sum().backward();
  return {y.detach(), w.grad()};
}

const WSOptions kConventions[] = {{1e-5, false}, {0.0, false}, {1e-3, true}};
}  // namespace

TEST(FusedWeightStandardization, EqualsTheComposedOpsAndTheirAutogradInFloat64) {
  torch::manual_seed(5);
  // fan-ins below, at and above the kernels' 8 lanes; contiguous and channels-last; a linear weight
  const std::vector<std::vector<int64_t>> shapes = {{6, 2, 1, 1}, {5, 8, 1, 1}, {7, 3, 3, 3}, {9, 16, 3, 3}, {4, 11}};
  for (const auto& shape : shapes)
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      auto w = torch::randn(shape, torch::kFloat64) * 0.3 + 0.2;
      if (channels_last) w = w.contiguous(at::MemoryFormat::ChannelsLast);
      auto g = torch::randn(shape, torch::kFloat64);
      for (const auto& o : kConventions) {
        auto [yf, gf] = value_and_grad(w, g, o, true);
        auto [yc, gc] = value_and_grad(w, g, o, false);
        const std::string what = "shape " + c10::str(w.sizes()) + (channels_last ? " channels-last" : "") +
                                 ", δ " + std::to_string(o.delta) + (o.delta_inside_sqrt ? " inside" : " outside");
        EXPECT_LT(largest_abs(yf - yc), 1e-13 * largest_abs(yc)) << what;
        // a fan-in of 2 with δ = 0 has a gradient of zero (ŵ = ±1/√2 whatever w): rounding against |g|
        EXPECT_LT(largest_abs(gf - gc), 1e-12 * std::max(largest_abs(gc), largest_abs(g))) << what;
        EXPECT_EQ(yf.strides(), w.strides()) << what;  // the weight's own layout
        EXPECT_EQ(gf.strides(), w.strides()) << what;
      }
    }
}

TEST(FusedWeightStandardization, GradientMatchesCentralFiniteDifferences) {
  torch::manual_seed(6);
  auto w = torch::randn({3, 2, 3, 3}, torch::kFloat64) + 0.1;
  auto g = torch::randn_like(w);
  for (const auto& o : kConventions) {
    auto [y, grad] = value_and_grad(w, g, o, true);
    FusedWSSwitch on(true);
    const double h = 1e-6;
    auto flat = w.view(-1);
    for (int64_t i : {0, 7, 20, 53}) {
      auto plus = flat.clone(), minus = flat.clone();
      plus[i] += h;
      minus[i] -= h;
      const double fd = ((standardize_weight(plus.view(w.sizes()), o) * g).sum().item<double>() -
                         (standardize_weight(minus.view(w.sizes()), o) * g).sum().item<double>()) / (2 * h);
      EXPECT_NEAR(grad.view(-1)[i].item<double>(), fd, 1e-7) << "entry " << i << (o.delta_inside_sqrt ? " inside" : "");
    }
  }
}

TEST(FusedWeightStandardization, Float32IsTheFloat64ResultRoundedOnce) {
  torch::manual_seed(7);
  auto w = (torch::randn({32, 64, 3, 3}, torch::kFloat64) * 0.05 + 0.01).contiguous(at::MemoryFormat::ChannelsLast);
  auto g = torch::randn_like(w);
  auto [y64, g64] = value_and_grad(w, g, {}, true);
  auto [y32, g32] = value_and_grad(w.to(torch::kFloat32), g.to(torch::kFloat32), {}, true);
  // float32 inputs are the float64 ones rounded (relative 6e-8); sums in double: a few ulps of float32
  EXPECT_LT(largest_abs(y32.to(torch::kFloat64) - y64), 2e-6 * largest_abs(y64));
  EXPECT_LT(largest_abs(g32.to(torch::kFloat64) - g64), 2e-5 * largest_abs(g64));
}

TEST(FusedWeightStandardization, LeavesOtherLayoutsAndTypesToTheComposedOps) {
  auto w = torch::randn({6, 4, 3, 3}, torch::kFloat64);
  FusedWSSwitch on(true);
  EXPECT_TRUE(fused_weight_standardization_applies(w));
  EXPECT_FALSE(fused_weight_standardization_applies(w.transpose(0, 1)));  // filters not consecutive
  EXPECT_FALSE(fused_weight_standardization_applies(w.to(torch::kBFloat16)));
  EXPECT_FALSE(fused_weight_standardization_applies(w.reshape({-1})));  // one dimension: no filters
  // the transposed weight is still standardized, by the composition, per filter of the transposed view
  auto t = w.transpose(0, 1);
  auto expect = standardize_weight(t.contiguous());
  EXPECT_LT(largest_abs(standardize_weight(t) - expect), 1e-14);
  {
    FusedWSSwitch off(false);
    EXPECT_FALSE(fused_weight_standardization_applies(w));
  }
  EXPECT_THROW(fused_standardize_weight(torch::randn({4, 1, 1, 1}), 1e-5, false), c10::Error);  // fan-in 1
}
