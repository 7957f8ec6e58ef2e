// The simulated float16 loss scale against a sequence worked out by hand from GradScaler's rules
// (2^16 at first; an overflow halves it and restarts the count; 2000 clean steps double it), its
// ratio max|g|·s/65504, and max_abs_gradient over parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "eshift/observe/probes.h"
#include "eshift/observe/simulated_loss_scale.h"

using namespace eshift;

TEST(SimulatedLossScale, OverflowHalvesAndTwoThousandCleanStepsDouble) {
  SimulatedLossScale s;
  EXPECT_EQ(s.scale(), 65536.0);
  // max|g| = 1: 1·65536 ≥ 65504 overflows; at 32768 it does not
  EXPECT_TRUE(s.step(1.0));
  EXPECT_EQ(s.held_scale(), 65536.0);
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_EQ(s.overflow_steps(), 1);
  EXPECT_EQ(s.growth_tracker(), 0);
  for (int i = 1; i <= 1999; ++i) EXPECT_FALSE(s.step(1.0)) << i;
  EXPECT_EQ(s.growth_tracker(), 1999);
  EXPECT_EQ(s.scale(), 32768.0);  // not yet
  EXPECT_FALSE(s.step(1.0));      // the 2000th clean step
  EXPECT_EQ(s.held_scale(), 32768.0);
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_EQ(s.growth_tracker(), 0);
  // an overflow after 1000 clean steps: halved, and the count starts again from 0
  for (int i = 0; i < 1000; ++i) s.step(0.5);  // 0.5·65536 = 32768 < 65504
  EXPECT_EQ(s.growth_tracker(), 1000);
  EXPECT_TRUE(s.step(1.0));
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_EQ(s.growth_tracker(), 0);
  EXPECT_EQ(s.overflow_steps(), 2);
  EXPECT_EQ(s.steps(), 1 + 2000 + 1000 + 1);
  // two overflows in a row halve twice
  EXPECT_TRUE(s.step(4.0));  // 4·32768 = 131072
  EXPECT_TRUE(s.step(4.0));  // 4·16384 = 65536
  EXPECT_FALSE(s.step(4.0));  // 4·8192 = 32768
  EXPECT_EQ(s.scale(), 8192.0);
}

TEST(SimulatedLossScale, RatioIsTheScaledGradientOverTheFloat16Maximum) {
  SimulatedLossScale s;
  s.step(0.25);
  EXPECT_DOUBLE_EQ(s.scaled_ratio(), 0.25 * 65536.0 / 65504.0);
  // exactly at the float16 maximum counts as an overflow, just below does not
  SimulatedLossScale edge;
  const double at = 65504.0 / 65536.0;  // exact in binary
  EXPECT_FALSE(edge.step(std::nextafter(at, 0.0)));
  EXPECT_TRUE(edge.step(at * 2));  // the scale is still 2^16: 2·65504
  SimulatedLossScale half;         // and at 2^15 the same gradient sits exactly at the limit
  half.step(10.0);
  EXPECT_TRUE(half.step(2 * at));
  EXPECT_DOUBLE_EQ(half.scaled_ratio(), 1.0);
}

TEST(SimulatedLossScale, NonFiniteGradientsOverflowAtAnyScale) {
  SimulatedLossScale s;
  EXPECT_TRUE(s.step(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_TRUE(s.step(INFINITY));
  EXPECT_EQ(s.scale(), 16384.0);
  EXPECT_FALSE(s.step(0.0));
}

TEST(SimulatedLossScale, AnnotatesAProbeRecordPerLayer) {
  SimulatedLossScale s;
  s.step(2.0);  // overflows at 2^16
  s.step(1.0);  // held 2^15: ratio 32768/65504
  ProbeRecord r;
  r.layers.resize(2);
  r.layers[0].grad_max_abs = 0.5;
  r.layers[1].grad_max_abs = 1.0;
  s.annotate(r);
  EXPECT_EQ(r.loss_scale, 32768.0);
  EXPECT_DOUBLE_EQ(r.fp16_scaled_ratio, 32768.0 / 65504.0);
  EXPECT_EQ(r.fp16_overflow_steps, 1);
  EXPECT_DOUBLE_EQ(r.layers[0].fp16_scaled_ratio, 0.5 * 32768.0 / 65504.0);
  EXPECT_DOUBLE_EQ(r.layers[1].fp16_scaled_ratio, 32768.0 / 65504.0);
}

TEST(MaxAbsGradient, IsTheLargestElementOverEveryParameter) {
  auto a = torch::zeros({2, 3}, torch::kFloat32).requires_grad_(true);
  auto b = torch::zeros({4}, torch::kFloat32).requires_grad_(true);
  auto c = torch::zeros({5}, torch::kFloat32).requires_grad_(true);  // no gradient
  std::vector<ParamInfo> params = {{"a", a, ParamRole::ConvWeight, WeightFamily::None, true},
                                   {"b", b, ParamRole::Bias, WeightFamily::None, true},
                                   {"c", c, ParamRole::Bias, WeightFamily::None, true}};
  EXPECT_EQ(max_abs_gradient(params), 0.0);
  a.mutable_grad() = torch::tensor({{0.5, -2.0, 1.0}, {0.0, 0.25, -1.5}});
  b.mutable_grad() = torch::tensor({0.1, -3.5, 3.0, 0.0});
  EXPECT_DOUBLE_EQ(max_abs_gradient(params), 3.5);
  b.mutable_grad()[0] = NAN;
  EXPECT_TRUE(std::isnan(max_abs_gradient(params)));
}
