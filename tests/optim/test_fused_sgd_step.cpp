// The fused momentum step against the composition of LibTorch's ops it replaces: float64 over every
// regularizer, dampening, contiguous and channels-last filters, 1-D parameters and ones longer than a
// plain row; float32 against float64; and the steps it leaves to the composition.
#include <gtest/gtest.h>

#include "eshift/optim/fused_sgd_step.h"
#include "eshift/optim/regularized_sgd.h"

using namespace eshift;

namespace {
double largest_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

struct FusedSgdSwitch {  // restores the switch
  explicit FusedSgdSwitch(bool on) : was(fused_sgd_step_enabled()) { set_fused_sgd_step(on); }
  ~FusedSgdSwitch() { set_fused_sgd_step(was); }
  bool was;
};

struct Trajectory {
  torch::Tensor p, buf;
  int fused_steps = 0;
};

// Three steps of regularized_sgd_update_ from p0 with gradients gs (the first creates the buffer).
Trajectory three_steps(const torch::Tensor& p0, const std::vector<torch::Tensor>& gs, const RegularizedSGDOptions& o,
                       bool fused) {
  FusedSgdSwitch on(fused);
  Trajectory t;
  t.p = p0.clone(at::MemoryFormat::Preserve);
  for (const auto& g0 : gs) {
    const auto g = g0.clone(at::MemoryFormat::Preserve);
    if (fused_sgd_step_applies(t.p, g, t.buf, o)) ++t.fused_steps;
    regularized_sgd_update_(t.p, g, t.buf, o);
  }
  return t;
}

std::vector<torch::Tensor> gradients_like(const torch::Tensor& p, int steps) {
  std::vector<torch::Tensor> gs;
  for (int i = 0; i < steps; ++i) gs.push_back(torch::randn_like(p));  // randn_like keeps p's strides
  return gs;
}
}  // namespace

TEST(FusedSgdStep, EqualsTheComposedStepInFloat64) {
  torch::manual_seed(31);
  const std::vector<std::vector<int64_t>> shapes = {{9, 16, 3, 3}, {6, 2, 1, 1}, {4, 11}, {37}, {5000}};
  for (const auto& shape : shapes)
    for (bool channels_last : {false, true}) {
      if (channels_last && shape.size() != 4) continue;
      auto p0 = torch::randn(shape, torch::kFloat64) * 0.3 + 0.05;
      if (shape.size() == 4) p0[1].zero_();  // a filter without a radius: factor 1
      if (channels_last) p0 = p0.contiguous(at::MemoryFormat::ChannelsLast);
      const auto gs = gradients_like(p0, 3);
      std::vector<Regularizer> regs = {Regularizer::none(), Regularizer::l2(0.02),
                                       Regularizer::eps_shifted(WeightFamily::WS, 0.3, 0.0)};  // ε = 0: L2
      if (shape.size() >= 2)
        for (auto family : {WeightFamily::WS, WeightFamily::CWN, WeightFamily::WN})
          regs.push_back(Regularizer::eps_shifted(family, 0.3, 0.2));
      for (const auto& reg : regs)
        for (double dampening : {0.0, 0.3}) {
          const auto o = RegularizedSGDOptions(0.1).momentum(0.9).dampening(dampening).regularizer(reg);
          const auto fused = three_steps(p0, gs, o, true), composed = three_steps(p0, gs, o, false);
          const std::string what = reg.describe() + " shape " + c10::str(p0.sizes()) +
                                   (channels_last ? " channels-last" : "") + " dampening " + std::to_string(dampening);
          EXPECT_EQ(fused.fused_steps, 2) << what;  // the first step creates the buffer the composed way
          EXPECT_EQ(composed.fused_steps, 0) << what;
          EXPECT_LT(largest_abs(fused.p - composed.p), 1e-14 * largest_abs(composed.p)) << what;
          EXPECT_LT(largest_abs(fused.buf - composed.buf), 1e-14 * largest_abs(composed.buf)) << what;
          EXPECT_EQ(fused.p.strides(), p0.strides()) << what;
        }
    }
}

TEST(FusedSgdStep, Float32IsTheFloat64StepWithinFloat32Rounding) {
  torch::manual_seed(32);
  auto p0 = torch::randn({64, 32, 3, 3}, torch::kFloat64) * 0.05;
  const auto gs = gradients_like(p0, 3);
  const auto o = RegularizedSGDOptions(0.1).momentum(0.9).regularizer(
      Regularizer::eps_shifted(WeightFamily::WS, 5e-4, 1e-3));
  std::vector<torch::Tensor> gs32;
  for (const auto& g : gs) gs32.push_back(g.to(torch::kFloat32));
  const auto single = three_steps(p0.to(torch::kFloat32), gs32, o, true);
  const auto exact = three_steps(p0, gs, o, false);
  ASSERT_EQ(single.fused_steps, 2);
  // each stored value rounded once a step: a few float32 ulps of the largest value
  EXPECT_LT(largest_abs(single.p.to(torch::kFloat64) - exact.p), 4e-7 * largest_abs(exact.p));
  EXPECT_LT(largest_abs(single.buf.to(torch::kFloat64) - exact.buf), 4e-7 * largest_abs(exact.buf));
}

TEST(FusedSgdStep, LeavesEveryOtherStepToTheComposition) {
  FusedSgdSwitch on(true);
  const auto p = torch::randn({8, 4, 3, 3});
  const auto g = torch::randn_like(p), buf = torch::randn_like(p);
  const auto plain = RegularizedSGDOptions(0.1).momentum(0.9).regularizer(Regularizer::l2(1e-4));
  ASSERT_TRUE(fused_sgd_step_applies(p, g, buf, plain));
  EXPECT_FALSE(fused_sgd_step_applies(p, g, torch::Tensor(), plain)) << "first step: no buffer yet";
  EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, RegularizedSGDOptions(plain).momentum(0))) << "no momentum";
  EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, RegularizedSGDOptions(plain).nesterov(true))) << "nesterov";
  EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, RegularizedSGDOptions(plain).trust_coefficient(1e-3))) << "LARS";
  EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, RegularizedSGDOptions(plain).projection(Projection::Cosine)))
      << "SGDP";
  EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, RegularizedSGDOptions(plain).regularizer(Regularizer::decoupled_l2(1e-4))))
      << "decoupled decay";
  EXPECT_FALSE(fused_sgd_step_applies(p.to(torch::kBFloat16), g.to(torch::kBFloat16), buf.to(torch::kBFloat16), plain))
      << "bfloat16";
  EXPECT_FALSE(fused_sgd_step_applies(p, g.contiguous(at::MemoryFormat::ChannelsLast), buf, plain)) << "strides differ";
  const auto t = p.transpose(0, 1);  // filters not consecutive
  EXPECT_FALSE(fused_sgd_step_applies(t, g.transpose(0, 1), buf.transpose(0, 1), plain)) << "transposed";
  {
    FusedSgdSwitch off(false);
    EXPECT_FALSE(fused_sgd_step_applies(p, g, buf, plain)) << "switched off";
  }
}

TEST(FusedSgdStep, WSNeedsAFanInOfTwoLikeTheComposition) {
  FusedSgdSwitch on(true);
  auto p = torch::randn({4, 1, 1, 1}, torch::kFloat64);
  auto g = torch::randn_like(p), buf = torch::randn_like(p);
  const auto o = RegularizedSGDOptions(0.1).momentum(0.9).regularizer(Regularizer::eps_shifted(WeightFamily::WS, 1e-4, 1e-3));
  ASSERT_TRUE(fused_sgd_step_applies(p, g, buf, o));
  EXPECT_THROW(regularized_sgd_update_(p, g, buf, o), c10::Error);
}
