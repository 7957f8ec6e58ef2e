// The fused Adam/AdamW step against the composition of LibTorch's ops it replaces: float64 over every
// regularizer applied both ways, contiguous and channels-last filters, 1-D parameters and ones longer
// than a plain row; float32 against float64; and the steps it leaves to the composition.
#include <gtest/gtest.h>

#include "eshift/optim/fused_adam_step.h"
#include "eshift/optim/regularized_adam.h"

using namespace eshift;

namespace {
double adam_largest_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

struct FusedAdamSwitch {  // restores the switch
  explicit FusedAdamSwitch(bool on) : was(fused_adam_step_enabled()) { set_fused_adam_step(on); }
  ~FusedAdamSwitch() { set_fused_adam_step(was); }
  bool was;
};

struct AdamTrajectory {
  torch::Tensor p, m, v;
  int64_t step = 0;
};

// Three steps of regularized_adam_update_ from p0 with gradients gs.
AdamTrajectory adam_three_steps(const torch::Tensor& p0, const std::vector<torch::Tensor>& gs,
                                const RegularizedAdamOptions& o, bool fused) {
  FusedAdamSwitch on(fused);
  AdamTrajectory t;
  t.p = p0.clone(at::MemoryFormat::Preserve);
  for (const auto& g0 : gs) regularized_adam_update_(t.p, g0.clone(at::MemoryFormat::Preserve), t.step, t.m, t.v, o);
  return t;
}

std::vector<torch::Tensor> adam_gradients_like(const torch::Tensor& p, int steps) {
  std::vector<torch::Tensor> gs;
  for (int i = 0; i < steps; ++i) gs.push_back(torch::randn_like(p));  // randn_like keeps p's strides
  return gs;
}
}  // namespace

TEST(FusedAdamStep, EqualsTheComposedStepInFloat64) {
  torch::manual_seed(41);
  const std::vector<std::vector<int64_t>> shapes = {{9, 16, 3, 3}, {6, 2, 1, 1}, {4, 11}, {37}, {5000}};
  for (const auto& shape : shapes)
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      auto p0 = torch::randn(shape, torch::kFloat64) * 0.3 + 0.05;
      if (shape.size() == 4) p0[1].zero_();  // a filter without a radius: factor 1
      if (channels_last) p0 = p0.contiguous(at::MemoryFormat::ChannelsLast);
      const auto gs = adam_gradients_like(p0, 3);
      std::vector<Regularizer> regs = {Regularizer::none(), Regularizer::l2(0.02),
                                       Regularizer::eps_shifted(WeightFamily::WS, 0.3, 0.0)};  // ε = 0: L2
      if (shape.size() >= 2)
        for (auto family : {WeightFamily::WS, WeightFamily::CWN, WeightFamily::WN})
          regs.push_back(Regularizer::eps_shifted(family, 0.3, 0.2));
      for (const auto& coupled : regs)
        for (bool decoupled : {false, true}) {
          const Regularizer reg = coupled.applied_decoupled(decoupled);
          const auto o = RegularizedAdamOptions(0.01).beta1(0.8).beta2(0.95).eps(1e-6).regularizer(reg);
          const auto fused = adam_three_steps(p0, gs, o, true), composed = adam_three_steps(p0, gs, o, false);
          const std::string what = reg.describe() + " shape " + c10::str(p0.sizes()) + (channels_last ? " channels-last" : "");
          EXPECT_TRUE(fused_adam_step_applies(fused.p, gs[0], fused.m, fused.v, o)) << what;
          EXPECT_EQ(fused.step, 3) << what;
          EXPECT_LT(adam_largest_abs(fused.p - composed.p), 1e-14 * adam_largest_abs(composed.p)) << what;
          EXPECT_LT(adam_largest_abs(fused.m - composed.m), 1e-14 * adam_largest_abs(composed.m)) << what;
          EXPECT_LT(adam_largest_abs(fused.v - composed.v), 1e-14 * adam_largest_abs(composed.v)) << what;
          EXPECT_EQ(fused.p.strides(), p0.strides()) << what;
          EXPECT_EQ(fused.m.strides(), p0.strides()) << what;
        }
    }
}

TEST(FusedAdamStep, Float32IsTheFloat64StepWithinFloat32Rounding) {
  torch::manual_seed(42);
  auto p0 = torch::randn({64, 32, 3, 3}, torch::kFloat64) * 0.05;
  const auto gs = adam_gradients_like(p0, 3);
  const auto o = RegularizedAdamOptions(1e-3).regularizer(Regularizer::eps_shifted(WeightFamily::WS, 5e-4, 1e-3));
  std::vector<torch::Tensor> gs32;
  for (const auto& g : gs) gs32.push_back(g.to(torch::kFloat32));
  const auto single = adam_three_steps(p0.to(torch::kFloat32), gs32, o, true);
  const auto exact = adam_three_steps(p0, gs, o, false);
  ASSERT_TRUE(fused_adam_step_applies(single.p, gs32[0], single.m, single.v, o));
  // each stored value rounded once a step: a few float32 ulps of the largest value
  EXPECT_LT(adam_largest_abs(single.p.to(torch::kFloat64) - exact.p), 4e-7 * adam_largest_abs(exact.p));
  EXPECT_LT(adam_largest_abs(single.m.to(torch::kFloat64) - exact.m), 4e-7 * adam_largest_abs(exact.m));
  EXPECT_LT(adam_largest_abs(single.v.to(torch::kFloat64) - exact.v), 4e-7 * adam_largest_abs(exact.v));
}

TEST(FusedAdamStep, LeavesLambAdamPAndOtherLayoutsToTheComposition) {
  FusedAdamSwitch on(true);
  const auto p = torch::randn({8, 4, 3, 3});
  const auto g = torch::randn_like(p), m = torch::randn_like(p), v = torch::rand_like(p);
  const auto adam = RegularizedAdamOptions(1e-3).regularizer(Regularizer::decoupled_l2(1e-2));
  ASSERT_TRUE(fused_adam_step_applies(p, g, m, v, adam));
  EXPECT_FALSE(fused_adam_step_applies(p, g, m, v, RegularizedAdamOptions(adam).trust_ratio(true))) << "LAMB";
  EXPECT_FALSE(fused_adam_step_applies(p, g, m, v, RegularizedAdamOptions(adam).projection(Projection::Cosine)))
      << "AdamP";
  EXPECT_FALSE(fused_adam_step_applies(p, g, torch::Tensor(), v, adam)) << "no first moment";
  EXPECT_FALSE(fused_adam_step_applies(p.to(torch::kBFloat16), g.to(torch::kBFloat16), m.to(torch::kBFloat16),
                                       v.to(torch::kBFloat16), adam))
      << "bfloat16";
  EXPECT_FALSE(fused_adam_step_applies(p, g, m.contiguous(at::MemoryFormat::ChannelsLast), v, adam)) << "strides differ";
  EXPECT_FALSE(fused_adam_step_applies(p.transpose(0, 1), g.transpose(0, 1), m.transpose(0, 1), v.transpose(0, 1), adam))
      << "transposed";
  FusedAdamSwitch off(false);
  EXPECT_FALSE(fused_adam_step_applies(p, g, m, v, adam)) << "switched off";
}
