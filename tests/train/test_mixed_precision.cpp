// Mixed precision: autocast scopes, the policies --amp chooses, bfloat16 training on CPU with
// float32 parameters and optimizer state, and a loss-scaled run through the trainer whose scale and
// skip count reach metrics.jsonl and survive a resume. float16 autocast on CPU needs LibTorch 2.x:
// those cases run in `make test-torch2` (and on a GPU in scripts/gpu-check.sh).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "eshift/core/torch_compat.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/mixed_precision.h"
#include "eshift/train/trainer.h"
#include "fit_one_batch.h"
#include "test_util.h"
#include "tiny_run.h"

using namespace eshift;
using namespace eshift::test;

namespace {
TrainConfig amp_run(const TempDir& dir) {
  TrainConfig c = tiny_run(dir);
  c.label = "amp";
  return c;
}

std::vector<nlohmann::json> epoch_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.at("kind") == "epoch") out.push_back(j);
  }
  return out;
}

// float32 with float16's loss scaling: runs everywhere, so the trainer's handling of a scaler
// (skips, logged scale, checkpointed state) is tested on LibTorch 1.13 too. Its first step overflows.
class ScaledFloat32 : public ExecutionPolicy {
 public:
  ScaledFloat32() : ExecutionPolicy(Placement{torch::kCPU, false}), scaler_(GradScalerOptions().growth_interval(2)) {}
  void backward(const torch::Tensor& loss) override { scaler_.scale(loss).backward(); }
  bool step(torch::optim::Optimizer& optimizer, const std::function<void()>& inspect) override {
    if (steps_++ == 0)
      for (auto& group : optimizer.param_groups()) group.params().front().mutable_grad().fill_(INFINITY);
    scaler_.unscale(optimizer);
    if (inspect) inspect();
    return scaler_.step(optimizer);
  }
  std::vector<std::pair<std::string, double>> stats() const override {
    return {{"loss_scale", scaler_.current_scale()}, {"skipped_steps", double(scaler_.skipped_steps())}};
  }
  bool has_state() const override { return true; }
  void save(torch::serialize::OutputArchive& archive) const override { scaler_.save(archive); }
  void load(torch::serialize::InputArchive& archive) override {
    scaler_.load(archive);
    steps_ = 1;  // a resumed run does not overflow again
  }
  GradScaler scaler_;
  int steps_ = 0;
};
}  // namespace

TEST(AutocastScope, TurnsAutocastOnAndRestoresTheOuterState) {
  EXPECT_FALSE(compat::autocast_enabled(at::kCPU));
  const auto a = torch::randn({4, 4}), b = torch::randn({4, 4});
  {
    AutocastScope outer(at::kCPU, torch::kBFloat16);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      AutocastScope inner(at::kCPU, torch::kBFloat16);
      EXPECT_TRUE(compat::autocast_enabled(at::kCPU));
    }
    EXPECT_TRUE(compat::autocast_enabled(at::kCPU));  // the inner scope restored the outer one
  }
  EXPECT_FALSE(compat::autocast_enabled(at::kCPU));
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

TEST(MixedPrecision, AmpNamesItsPolicyAndRefusesWhatTheDeviceCannotRun) {
  const Placement cpu{torch::kCPU, true};
  EXPECT_EQ(make_execution_policy("off", cpu)->describe(), "float32");
  EXPECT_EQ(make_execution_policy("bf16", cpu)->describe(), "mixed bfloat16 (autocast)");
  try {
    make_execution_policy("fp8", cpu);
    ADD_FAILURE() << "fp8 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--amp 'fp8'"), std::string::npos) << e.what();
  }
  if (compat::kCpuAutocastFloat16) {
    EXPECT_NE(make_execution_policy("fp16", cpu)->describe().find("float16"), std::string::npos);
  } else {
    EXPECT_THROW(make_execution_policy("fp16", cpu), std::invalid_argument);
  }
}

TEST(MixedPrecision, Bfloat16TrainingKeepsParametersAndMomentumInFloat32) {
  TempDir dir;
  auto c = amp_run(dir);
  c.amp = "bf16";
  c.optimizer.momentum = 0.9;
  c.decay.el2 = c.decay.nowd_conv = true;
  Trainer trainer(c, classification_task());
  const auto result = trainer.run();
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_TRUE(std::isfinite(result.history[1].train.at("loss")));
  EXPECT_LT(result.history[1].train.at("loss"), std::log(4.0) + 0.5);
  for (const auto& p : trainer.model().parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(result.history[1].extras.empty());  // bfloat16 needs no loss scaler
}

TEST(MixedPrecision, MemorizesOneBatchOnCpuLikeFloat32) {
  std::vector<std::string> precisions{"off", "bf16"};
  if (compat::kCpuAutocastFloat16) precisions.push_back("fp16");
  for (const auto& amp : precisions) {
    const auto r = fit_one_batch(amp, torch::kCPU);
    EXPECT_LT(r.last_loss, 0.2 * r.first_loss) << amp << ": loss " << r.first_loss << " → " << r.last_loss;
    EXPECT_LE(r.skipped_steps, 2) << amp;
  }
}

TEST(MixedPrecision, ALossScaledRunLogsItsScaleSkipsOverflowsAndResumesExactly) {
  TempDir dir;
  auto whole = amp_run(dir);
  whole.out_dir = dir / "whole";
  whole.epochs = 3;
  Trainer a(whole, classification_task(), {std::make_unique<ScaledFloat32>()});
  a.run();
  const auto lines = epoch_lines(dir / "whole/metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  // 3 steps an epoch, growth after 2 clean steps: the overflow halves 2^16, the next two steps grow
  // it back; epoch 2 grows it once, epoch 3 twice
  EXPECT_EQ(lines[0].at("skipped_steps").get<double>(), 1.0);
  EXPECT_EQ(lines[0].at("loss_scale").get<double>(), 65536.0);
  EXPECT_EQ(lines[1].at("loss_scale").get<double>(), 131072.0);
  EXPECT_EQ(lines[2].at("loss_scale").get<double>(), 524288.0);
  EXPECT_EQ(lines[2].at("skipped_steps").get<double>(), 1.0);
  // the same run stopped after epoch 1 and resumed ends with the same weights and scale
  auto first = whole;
  first.out_dir = dir / "split";
  first.epochs = 1;
  Trainer(first, classification_task(), {std::make_unique<ScaledFloat32>()}).run();
  auto rest = first;
  rest.epochs = 3;
  rest.resume = true;
  rest.resume_override = {"epochs"};
  Trainer b(rest, classification_task(), {std::make_unique<ScaledFloat32>()});
  b.run();
  const auto resumed = epoch_lines(dir / "split/metrics.jsonl");
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed[2].at("loss_scale"), lines[2].at("loss_scale"));
  EXPECT_EQ(resumed[2].at("train_loss"), lines[2].at("train_loss"));
  const auto pa = a.model().parameters(), pb = b.model().parameters();
  for (size_t k = 0; k < pa.size(); ++k) EXPECT_TRUE(torch::equal(pa[k], pb[k])) << k;
}

TEST(MixedPrecision, Float16TrainingOnCpuWithLossScaling) {
  if (!compat::kCpuAutocastFloat16) GTEST_SKIP() << "LibTorch " TORCH_VERSION " has no float16 CPU autocast";
  TempDir dir;
  auto c = amp_run(dir);
  c.amp = "fp16";
  c.out_dir = dir / "run";
  Trainer trainer(c, classification_task());
  const auto result = trainer.run();
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_TRUE(std::isfinite(result.history[1].train.at("loss")));
  const auto lines = epoch_lines(dir / "run/metrics.jsonl");
  EXPECT_GT(lines[1].at("loss_scale").get<double>(), 0.0);
  for (const auto& p : trainer.model().parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

// Under autocast a conv hands GroupNorm a bfloat16 input while γ and β stay float32; LibTorch 1.13's
// CPU kernel takes one dtype (it failed with "expected scalar type BFloat16 but found Float"), so
// models/layers.h normalizes in float32. The bfloat16 forward agrees with float32's within bfloat16's
// rounding (8 significant bits: a relative 2⁻⁸ per rounding, a few percent through ResNet-8), and the
// gradients are float32.
TEST(MixedPrecision, GroupNormModelsRunUnderBfloat16Autocast) {
  torch::manual_seed(0);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.norm = "gn";
  spec.in_channels = 3;
  auto model = build_model(spec);
  const auto x = torch::randn({4, 3, 16, 16});
  const auto reference = model->forward(x);
  torch::Tensor y;
  {
    AutocastScope bf16(at::kCPU, torch::kBFloat16);
    y = model->forward(x);
  }
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);  // the classifier's linear layer
  const double error = (y.to(torch::kFloat32) - reference).abs().max().item<double>();
  EXPECT_LT(error, 0.05 * reference.abs().max().item<double>());
  EXPECT_GT(error, 0.0);  // it did run in bfloat16
  y.to(torch::kFloat32).pow(2).sum().backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_EQ(p.value().grad().scalar_type(), torch::kFloat32) << p.key();
  }
}
