// On a CUDA device (each test skips without one; scripts/gpu-check.sh runs them on a GPU machine):
// the training step with the ε-shifted regularizer gives the CPU's result in float64 (CUDA takes
// LibTorch's plain BatchNorm where the CPU takes eshift's fused kernels), channels-last included,
// and both mixed precisions train (memorize a batch; run through the Trainer with float32 parameters
// and optimizer state, probes on).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "eshift/models/registry.h"
#include "eshift/nn/param_roles.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/mixed_precision.h"
#include "eshift/train/step.h"
#include "eshift/train/trainer.h"
#include "fit_one_batch.h"
#include "test_util.h"

using namespace eshift;
using namespace eshift::test;

namespace {
#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

// The same float64 WS-ResNet-8 on `placement`, and three steps of momentum SGD with the ε-shifted L2
// on its conv weights and L2 elsewhere; its parameters afterwards, on the CPU.
std::vector<torch::Tensor> three_steps(const Placement& placement, const Batch& batch) {
  torch::manual_seed(11);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 8;
  spec.wnorm = WeightFamily::WS;
  spec.in_channels = 3;
  spec.num_classes = 5;
  auto model = build_model(spec);
  model->to(torch::kFloat64);
  placement.place(*model);
  model->train();
  const DecayFlags flags = conv_decay_preset(ConvDecay::EpsShifted, 5e-3, 0.05, 1e-3);
  RegularizedSGD sgd(DecayPolicy(flags).group(describe_parameters(*model)), RegularizedSGDOptions(0.1).momentum(0.9));
  ExecutionPolicy policy(placement);
  const ClassificationTask task;
  const Batch placed = policy.place(batch);
  for (int step = 0; step < 3; ++step) train_step(*model, task, sgd, policy, placed);
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().cpu().contiguous());
  return out;
}
}  // namespace

TEST(Cuda, AFloat64StepWithTheEpsShiftOnTheGpuEqualsTheCpuStep) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  const Batch batch{torch::randn({8, 3, 16, 16}, torch::kFloat64), torch::randint(5, {8}, torch::kInt64)};
  for (bool channels_last : {false, true}) {
    SCOPED_TRACE(channels_last ? "channels-last" : "NCHW");
    const auto cpu = three_steps(Placement{torch::kCPU, channels_last}, batch);
    const auto gpu = three_steps(Placement{torch::kCUDA, channels_last}, batch);
    ASSERT_EQ(cpu.size(), gpu.size());
    for (size_t k = 0; k < cpu.size(); ++k) {
      const double scale = std::max(1.0, cpu[k].abs().max().item<double>());
      EXPECT_LT((cpu[k] - gpu[k]).abs().max().item<double>(), 1e-9 * scale) << "parameter " << k;
    }
  }
}

TEST(Cuda, MixedPrecisionTrainsWithFloat32ParametersAndLogsTheLossScale) {
  SKIP_WITHOUT_CUDA();
  TempDir dir;
  std::filesystem::create_directories(dir / "data");
  write_mnist_layout(dir / "data", 64, 20, 8, 8, 4);
  for (const std::string amp : {"bf16", "fp16"}) {
    SCOPED_TRACE(amp);
    TrainConfig c;
    c.model.name = "resnet8";
    c.model.width = 8;
    c.data_dir = dir / "data";
    c.epochs = 3;
    c.batch_size = 16;
    c.schedule.base_lr = 0.05;
    c.probe_every = 2;
    c.device = "cuda";
    c.amp = amp;
    c.decay.el2 = c.decay.nowd_conv = true;
    c.out_dir = dir / ("run-" + amp);
    Trainer trainer(c, classification_task());
    const auto result = trainer.run();
    ASSERT_EQ(result.history.size(), 3u);
    EXPECT_TRUE(std::isfinite(result.history[2].train.at("loss")));
    EXPECT_LT(result.history[2].train.at("loss"), std::log(4.0) + 0.5);  // random labels: near chance
    for (const auto& p : trainer.model().parameters()) {
      EXPECT_EQ(p.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(p.is_cuda());
    }
    const auto& extras = result.history[2].extras;
    if (amp == "fp16") {
      ASSERT_EQ(extras.size(), 2u);
      EXPECT_EQ(extras[0].first, "loss_scale");
      EXPECT_GE(extras[0].second, 1.0);
    } else {
      EXPECT_TRUE(extras.empty());
    }
  }
}

TEST(Cuda, EachPrecisionMemorizesOneBatch) {
  SKIP_WITHOUT_CUDA();
  for (const std::string amp : {"off", "bf16", "fp16"}) {
    const auto r = fit_one_batch(amp, torch::kCUDA);
    EXPECT_LT(r.last_loss, 0.2 * r.first_loss) << amp << ": loss " << r.first_loss << " → " << r.last_loss;
    EXPECT_LE(r.skipped_steps, 2) << amp;
  }
}

TEST(Cuda, AutocastRunsConvolutionsInTheLowPrecisionAndTheLossInFloat32) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 8;
  spec.in_channels = 3;
  spec.num_classes = 5;
  auto model = build_model(spec);
  const Placement placement{torch::kCUDA, true};
  placement.place(*model);
  const ClassificationTask task;
  for (auto dtype : {torch::kHalf, torch::kBFloat16}) {
    MixedPrecisionPolicy policy(placement, dtype);
    const Batch batch = policy.place({torch::randn({4, 3, 16, 16}), torch::randint(5, {4}, torch::kInt64)});
    const auto [output, loss] = policy.forward(*model, task, batch);
    EXPECT_EQ(output.logits.scalar_type(), dtype) << "the classifier's matrix product runs in the low precision";
    EXPECT_EQ(loss.scalar_type(), torch::kFloat32) << "autocast computes the loss in float32";
    EXPECT_EQ(policy.infer(*model, batch).logits.scalar_type(), torch::kFloat32) << "evaluation returns float32";
  }
}
