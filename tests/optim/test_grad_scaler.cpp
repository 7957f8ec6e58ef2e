// The float16 loss scaler's state machine on hand-made gradients, against PyTorch's GradScaler
// semantics: unscaling, skipped steps on inf/NaN with backoff, growth after a run of clean steps,
// and its state through a checkpoint. Each test runs on CPU and, where one is present, on a CUDA
// device: on LibTorch 1.13's CPU eshift's own arithmetic, on CUDA (and 2.x's CPU) the ATen kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "eshift/optim/grad_scaler.h"

using namespace eshift;

namespace {
// One float32 parameter on the test's device and plain SGD (lr 1), so a taken step moves it by −gradient.
struct OneParameter {
  explicit OneParameter(torch::Device device) : device(device) {}
  torch::Device device;
  torch::Tensor w = torch::ones({3}, torch::TensorOptions(device)).requires_grad_(true);
  torch::optim::SGD sgd{std::vector<torch::Tensor>{w}, torch::optim::SGDOptions(1.0)};
  void set_grad(std::vector<float> values) { w.mutable_grad() = torch::tensor(values).to(device); }
  torch::Tensor value() const { return w.detach().cpu(); }
  torch::Tensor grad() const { return w.grad().cpu(); }
};
}  // namespace

// (outside the anonymous namespace: the tests derive from it)
class GradScalerOn : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda" && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  torch::Device device() const { return torch::Device(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Devices, GradScalerOn, testing::Values("cpu", "cuda"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(GradScalerOn, ScalesTheLossAndUnscalesTheGradientsExactly) {
  OneParameter s(device());
  GradScaler scaler;
  EXPECT_EQ(scaler.current_scale(), 65536.0);
  auto loss = (s.w * torch::tensor({1.0f, 2.0f, 3.0f}).to(device())).sum();
  scaler.scale(loss).backward();
  EXPECT_TRUE(torch::equal(s.grad(), torch::tensor({65536.0f, 131072.0f, 196608.0f})));
  scaler.unscale(s.sgd);
  EXPECT_TRUE(torch::equal(s.grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
  EXPECT_TRUE(scaler.step(s.sgd));
  EXPECT_TRUE(torch::equal(s.value(), torch::tensor({0.0f, -1.0f, -2.0f})));
  EXPECT_THROW({ scaler.unscale(s.sgd); scaler.unscale(s.sgd); }, c10::Error);  // once per step
}

TEST_P(GradScalerOn, InfOrNanSkipsTheStepAndHalvesTheScale) {
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), NAN}) {
    SCOPED_TRACE(bad);
    OneParameter s(device());
    GradScaler scaler(GradScalerOptions().growth_interval(3));
    s.set_grad({65536.0f, 65536.0f, 65536.0f});
    EXPECT_TRUE(scaler.step(s.sgd));  // clean: taken, tracker 1
    EXPECT_EQ(scaler.growth_tracker(), 1);
    const auto before = s.value().clone();
    s.set_grad({1.0f, bad, 2.0f});
    EXPECT_FALSE(scaler.step(s.sgd));
    EXPECT_TRUE(torch::equal(s.value(), before)) << "a skipped step must not move the parameter";
    EXPECT_EQ(scaler.current_scale(), 32768.0);
    EXPECT_EQ(scaler.growth_tracker(), 0);
    EXPECT_EQ(scaler.skipped_steps(), 1);
  }
}

TEST_P(GradScalerOn, GrowsAfterGrowthIntervalCleanStepsInARow) {
  OneParameter s(device());
  GradScaler scaler(GradScalerOptions().init_scale(4.0).growth_interval(3));
  std::vector<double> scales;
  for (int step = 0; step < 7; ++step) {
    s.set_grad({1.0f, 1.0f, 1.0f});
    scaler.step(s.sgd);
    scales.push_back(scaler.current_scale());
  }
  EXPECT_EQ(scales, (std::vector<double>{4, 4, 8, 8, 8, 16, 16}));
  // an overflow resets the count: 2 clean, 1 bad, then 3 clean before the next growth
  s.set_grad({1.0f, 1.0f, 1.0f});
  scaler.step(s.sgd);
  s.set_grad({NAN, 1.0f, 1.0f});
  scaler.step(s.sgd);
  EXPECT_EQ(scaler.current_scale(), 8.0);
  for (int step = 0; step < 2; ++step) {
    s.set_grad({1.0f, 1.0f, 1.0f});
    scaler.step(s.sgd);
  }
  EXPECT_EQ(scaler.current_scale(), 8.0);
  s.set_grad({1.0f, 1.0f, 1.0f});
  scaler.step(s.sgd);
  EXPECT_EQ(scaler.current_scale(), 16.0);
}

TEST_P(GradScalerOn, NeverGrowsPastTheLargestFloat) {
  OneParameter s(device());
  GradScaler scaler(GradScalerOptions().init_scale(3e38).growth_interval(1));
  s.set_grad({0.0f, 0.0f, 0.0f});
  scaler.step(s.sgd);
  EXPECT_FLOAT_EQ(float(scaler.current_scale()), 3e38f);
}

TEST_P(GradScalerOn, ItsStateSurvivesACheckpoint) {
  OneParameter s(device());
  GradScaler scaler(GradScalerOptions().growth_interval(5));
  s.set_grad({NAN, 0.0f, 0.0f});
  scaler.step(s.sgd);
  for (int step = 0; step < 3; ++step) {
    s.set_grad({1.0f, 1.0f, 1.0f});
    scaler.step(s.sgd);
  }
  torch::serialize::OutputArchive out;
  scaler.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  GradScaler restored(GradScalerOptions().growth_interval(5));
  restored.load(in);
  EXPECT_EQ(restored.current_scale(), 32768.0);
  EXPECT_EQ(restored.growth_tracker(), 3);
  EXPECT_EQ(restored.skipped_steps(), 1);
  // both continue alike: two more clean steps grow the scale
  for (auto* sc : {&scaler, &restored})
    for (int step = 0; step < 2; ++step) {
      s.set_grad({1.0f, 1.0f, 1.0f});
      sc->step(s.sgd);
    }
  EXPECT_EQ(scaler.current_scale(), 65536.0);
  EXPECT_EQ(restored.current_scale(), 65536.0);
}

TEST(GradScaler, RejectsImpossibleOptions) {
  EXPECT_THROW(GradScaler(GradScalerOptions().init_scale(0)), c10::Error);
  EXPECT_THROW(GradScaler(GradScalerOptions().growth_factor(1)), c10::Error);
  EXPECT_THROW(GradScaler(GradScalerOptions().backoff_factor(1)), c10::Error);
  EXPECT_THROW(GradScaler(GradScalerOptions().growth_interval(0)), c10::Error);
}
