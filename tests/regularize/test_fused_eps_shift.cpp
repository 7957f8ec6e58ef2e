// The fused ε-shifted gradient against the composition of LibTorch's ops it replaces (float64, every
// family, contiguous and channels-last, filters without a radius, the decoupled step that writes
// into the weight itself), in float32 against float64, and where it does not apply.
#include <gtest/gtest.h>

#include "eshift/regularize/fused_eps_shift.h"
#include "eshift/regularize/regularizer.h"

using namespace eshift;

namespace {
double largest(const torch::Tensor& t) { return t.abs().max().item<double>(); }

struct FusedEpsShiftSwitch {  // restores the switch
  explicit FusedEpsShiftSwitch(bool on) : was(fused_eps_shift_enabled()) { set_fused_eps_shift(on); }
  ~FusedEpsShiftSwitch() { set_fused_eps_shift(was); }
  bool was;
};

// out + scale·∂R/∂w, fused or composed; out starts as a copy of `start` in w's layout
torch::Tensor added(const Regularizer& r, const torch::Tensor& start, const torch::Tensor& w, double scale, bool fused) {
  FusedEpsShiftSwitch on(fused);
  auto out = start.clone(at::MemoryFormat::Preserve);
  EXPECT_EQ(fused_eps_shift_applies(out, w), fused);
  r.add_gradient_(out, w, scale);
  return out;
}

const WeightFamily kFusedFamilies[] = {WeightFamily::WS, WeightFamily::CWN, WeightFamily::WN};
}  // namespace

TEST(FusedEpsShift, EqualsTheComposedOpsInFloat64) {
  torch::manual_seed(21);
  const std::vector<std::vector<int64_t>> shapes = {{6, 2, 1, 1}, {5, 8, 1, 1}, {7, 3, 3, 3}, {9, 16, 3, 3}, {4, 11}};
  for (const auto& shape : shapes)
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      auto w = torch::randn(shape, torch::kFloat64) * 0.4 + 0.1;
      w[1].zero_();    // a zero filter: no radius, factor 1
      // a constant one: σ = ‖w − μ‖ = 0 for WS and CWN. (0.25: its mean is exact in any summation order;
      // for a constant like 0.3 the rounded mean leaves offsets of 1e-17, whose direction the ε-term
      // follows, differently in each order of summation.)
      w[2].fill_(0.25);
      if (channels_last) w = w.contiguous(at::MemoryFormat::ChannelsLast);
      auto buf = torch::randn_like(w);
      for (auto family : kFusedFamilies)
        for (double eps : {1e-3, 0.5, 4.0}) {
          auto r = Regularizer::eps_shifted(family, 0.37, eps);
          auto fused = added(r, buf, w, 0.9, true), composed = added(r, buf, w, 0.9, false);
          EXPECT_LT(largest(fused - composed), 1e-14 * largest(composed))
              << family_name(family) << " shape " << w.sizes() << (channels_last ? " channels-last" : "") << " ε " << eps;
          EXPECT_EQ(fused.strides(), w.strides());
        }
    }
}

TEST(FusedEpsShift, DecoupledStepReadsEachElementBeforeWritingIt) {
  torch::manual_seed(22);
  auto w0 = torch::randn({16, 8, 3, 3}, torch::kFloat64).contiguous(at::MemoryFormat::ChannelsLast);
  for (auto family : kFusedFamilies) {
    auto r = Regularizer::eps_shifted(family, 0.1, 0.05).applied_decoupled();
    auto a = w0.clone(at::MemoryFormat::Preserve), b = w0.clone(at::MemoryFormat::Preserve);
    {
      FusedEpsShiftSwitch on(true);
      ASSERT_TRUE(fused_eps_shift_applies(a, a));
      r.apply_decoupled_(a, 0.3);  // out is the weight itself
    }
    {
      FusedEpsShiftSwitch off(false);
      r.apply_decoupled_(b, 0.3);
    }
    EXPECT_LT(largest(a - b), 1e-15 * largest(b)) << family_name(family);
  }
}

TEST(FusedEpsShift, Float32IsTheFloat64ResultRoundedOnce) {
  torch::manual_seed(23);
  auto w = torch::randn({64, 32, 3, 3}, torch::kFloat64) * 0.05;
  auto buf = torch::randn_like(w) * 0.01;
  FusedEpsShiftSwitch on(true);
  for (auto family : kFusedFamilies) {
    auto r = Regularizer::eps_shifted(family, 1e-4, 1e-3);
    auto out64 = buf.clone(), out32 = buf.to(torch::kFloat32);
    r.add_gradient_(out64, w);
    r.add_gradient_(out32, w.to(torch::kFloat32));
    EXPECT_LT(largest(out32.to(torch::kFloat64) - out64), 2e-7 * largest(out64)) << family_name(family);
  }
}

TEST(FusedEpsShift, LeavesOtherLayoutsAndTypesToTheComposedOps) {
  FusedEpsShiftSwitch on(true);
  auto w = torch::randn({6, 4, 3, 3});
  EXPECT_TRUE(fused_eps_shift_applies(torch::empty_like(w), w));
  EXPECT_FALSE(fused_eps_shift_applies(torch::empty_like(w).contiguous(at::MemoryFormat::ChannelsLast), w));
  EXPECT_FALSE(fused_eps_shift_applies(torch::empty_like(w, torch::kFloat64), w));
  EXPECT_FALSE(fused_eps_shift_applies(w.transpose(0, 1).contiguous(), w.transpose(0, 1)));  // filters not consecutive
  EXPECT_FALSE(fused_eps_shift_applies(w.to(torch::kBFloat16), w.to(torch::kBFloat16)));
  // an output in another layout still gets the gradient, from the composition
  auto r = Regularizer::eps_shifted(WeightFamily::WS, 0.5, 0.1);
  auto out = torch::zeros_like(w).contiguous(at::MemoryFormat::ChannelsLast);
  r.add_gradient_(out, w);
  EXPECT_LT(largest(out - r.gradient(w)), 1e-6 * largest(out));
  EXPECT_THROW(fused_add_eps_shift_gradient_(out, w, WeightFamily::WS, 0.1, 1.0), c10::Error);
}
