// The trainer object on a tiny generated dataset: epochs and the task's metrics, the gradient
// hook's place between backward and the optimizer step, exact resume, stop requests, divergence,
// and configurations refused before anything is written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "eshift/models/registry.h"
#include "eshift/nn/param_roles.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/trainer.h"
#include "test_util.h"
#include "tiny_run.h"

using namespace eshift;
using namespace eshift::test;

namespace {
// tiny_run.h's run, evaluated in batches of 8.
TrainConfig tiny(const TempDir& dir) {
  TrainConfig c = tiny_run(dir);
  c.eval_batch_size = 8;
  c.seed = 4;
  c.label = "test";
  return c;
}

std::vector<torch::Tensor> weights(Model& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model.parameters()) out.push_back(p.detach().clone());
  return out;
}

std::vector<nlohmann::json> lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}
}  // namespace

TEST(Trainer, RunsEpochsAndLogsTheTasksMetrics) {
  TempDir dir;
  auto c = tiny(dir);
  c.out_dir = dir / "run";
  c.probe_every = 2;
  const auto result = Trainer(c, classification_task()).run();
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.history[1].epoch, 2);
  EXPECT_EQ(result.history[1].step, 6);
  EXPECT_EQ(result.probes.size(), 3u);  // steps 2, 4, 6
  const auto log = lines(dir / "run/metrics.jsonl");
  ASSERT_EQ(log.size(), 5u);  // probes and epochs interleaved
  const auto& last = log.back();
  EXPECT_EQ(last.at("kind"), "epoch");
  EXPECT_DOUBLE_EQ(last.at("train_loss").get<double>(), result.history[1].train.at("loss"));
  EXPECT_DOUBLE_EQ(last.at("test_acc").get<double>(), result.history[1].test.at("acc"));
  const auto config = lines(dir / "run/config.json").at(0);
  EXPECT_EQ(config.at("data"), "fashion-mnist");
  EXPECT_EQ(config.at("data_dir"), dir / "data");
  EXPECT_EQ(read_checkpoint_info(dir / "run/checkpoint.pt").epoch, 2);
}

TEST(Trainer, GradientHooksSitBetweenBackwardAndTheStep) {
  TempDir dir;
  auto c = tiny(dir);
  c.optimizer.momentum = 0;
  c.decay.wd = 0;  // plain SGD: w ← w − η·g exactly
  c.epochs = 1;
  Trainer trainer(c, classification_task());
  std::vector<std::vector<torch::Tensor>> seen_weights, seen_grads;
  trainer.add_gradient_hook([&] {
    seen_weights.push_back(weights(trainer.model()));
    std::vector<torch::Tensor> grads;
    for (const auto& p : trainer.model().parameters()) grads.push_back(p.grad().clone());
    seen_grads.push_back(grads);
  });
  trainer.run();
  ASSERT_EQ(seen_weights.size(), 3u);  // one call per step
  // the step after hook i moved every weight by −η times the gradient the hook saw
  for (size_t i = 0; i + 1 < seen_weights.size(); ++i)
    for (size_t k = 0; k < seen_grads[i].size(); ++k)
      EXPECT_TRUE(torch::allclose(seen_weights[i + 1][k], seen_weights[i][k] - 0.05 * seen_grads[i][k], 1e-5, 1e-7))
          << "step " << i << " parameter " << k;
}

TEST(Trainer, AHookKeepsItsStateFromStepToStep) {
  // an all-reduce hook holds buckets and counters: the trainer calls the hook it was given, not copies
  TempDir dir;
  auto c = tiny(dir);
  Trainer trainer(c, classification_task());
  int steps = 0;
  trainer.add_gradient_hook([calls = 0, &steps]() mutable {
    EXPECT_EQ(calls, steps);
    ++calls;
    ++steps;
  });
  trainer.run();
  EXPECT_EQ(steps, 6);
}

TEST(Trainer, AHookThatChangesGradientsChangesTheStep) {
  // where an all-reduce will average gradients: the optimizer uses what the hooks leave
  TempDir dir;
  auto c = tiny(dir);
  c.optimizer.momentum = 0;
  c.decay.wd = 0;
  c.epochs = 1;
  Trainer trainer(c, classification_task());
  const auto before = weights(trainer.model());
  trainer.add_gradient_hook([&] {
    for (auto& p : trainer.model().parameters()) p.mutable_grad().zero_();
  });
  trainer.run();
  const auto after = weights(trainer.model());
  for (size_t k = 0; k < before.size(); ++k) EXPECT_TRUE(torch::equal(before[k], after[k])) << k;
}

TEST(Trainer, AResumedRunEndsWithTheWeightsOfAnUninterruptedOne) {
  TempDir dir;
  auto whole = tiny(dir);
  whole.out_dir = dir / "whole";
  whole.decay.el2 = whole.decay.nowd_conv = true;
  Trainer(whole, classification_task()).run();
  auto first = whole;
  first.out_dir = dir / "split";
  first.epochs = 1;
  Trainer(first, classification_task()).run();
  auto rest = first;
  rest.epochs = 2;
  rest.resume = true;
  // a longer run changes the run's meaning (a schedule may depend on it): refused unless named
  try {
    Trainer(rest, classification_task());
    ADD_FAILURE() << "a resume with another --epochs was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("epochs 1 → 2"), std::string::npos) << e.what();
  }
  rest.resume_override = {"epochs"};
  Trainer resumed(rest, classification_task());
  const auto result = resumed.run();
  ASSERT_EQ(result.history.size(), 1u);  // only the epoch left
  EXPECT_EQ(result.history[0].epoch, 2);
  auto a = build_model(read_checkpoint_info(dir / "whole/checkpoint.pt").spec);
  load_checkpoint(dir / "whole/checkpoint.pt", *a, nullptr, a->spec(), torch::kCPU);
  const auto wa = weights(*a), wb = weights(resumed.model());
  for (size_t k = 0; k < wa.size(); ++k) EXPECT_TRUE(torch::equal(wa[k], wb[k].contiguous())) << k;
  EXPECT_EQ(lines(dir / "split/metrics.jsonl").size(), 2u);
  const auto config = lines(dir / "split/config.json").at(0);
  EXPECT_EQ(config["epochs"], 2);
  EXPECT_EQ(config["history"], nlohmann::json::parse(R"([{"resumed_after_epoch": 1, "changed": {"epochs": [1, 2]}}])"));
}

// --iterations 5 of 3-step epochs: two epochs, the second cut to 2 steps; every step's rate by
// hand from lr_schedule.h's formulas; a resume from epoch 1's checkpoint ends with the same weights.
TEST(Trainer, ARunOfIterationsStopsAtItsCountWithTheRateOfEveryStep) {
  TempDir dir;
  auto c = tiny(dir);
  c.out_dir = dir / "run";
  c.schedule.base_lr = 0.1;
  c.schedule.iterations = 5;
  c.schedule.milestones = {3};
  c.schedule.gamma = 0.5;
  c.schedule.warmup_iters = 2;
  c.schedule.warmup_factor = 0.25;
  c.probe_every = 1;
  c.epochs = 1;  // derived from --iterations, whatever it says
  TrainResult result;
  std::vector<torch::Tensor> wa;
  {  // the run's lock on its directory goes with the trainer
    Trainer whole(c, classification_task());
    result = whole.run();
    wa = weights(whole.model());
  }
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.history[0].step, 3);
  EXPECT_EQ(result.history[1].step, 5);
  // step s (from 0): 0.1 × (0.25 + 0.75·s/2) while s < 2, then ×0.5 from s = 3 on
  const std::vector<double> expected{0.025, 0.0625, 0.1, 0.05, 0.05};
  ASSERT_EQ(result.probes.size(), expected.size());
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(result.probes[k].step, int64_t(k) + 1);
    EXPECT_NEAR(result.probes[k].lr, expected[k], 1e-15) << "step " << k;
  }
  EXPECT_DOUBLE_EQ(result.history[1].lr, 0.05);
  const auto config = lines(dir / "run/config.json").at(0);
  EXPECT_EQ(config["iterations"], 5);
  EXPECT_EQ(config["epochs"], 2);

  auto again = c;
  again.resume_from = dir / "run/checkpoint-epoch1.pt";
  Trainer resumed(again, classification_task());
  const auto rest = resumed.run();
  ASSERT_EQ(rest.history.size(), 1u);
  EXPECT_EQ(rest.history[0].step, 5);
  const auto wb = weights(resumed.model());
  for (size_t k = 0; k < wa.size(); ++k) EXPECT_TRUE(torch::equal(wa[k], wb[k])) << k;
}

TEST(Trainer, AResumeRefusesEveryChangeOfMeaningAndWritesNothing) {
  TempDir dir;
  auto c = tiny(dir);
  c.out_dir = dir / "run";
  c.epochs = 1;
  Trainer(c, classification_task()).run();
  const auto config_before = lines(dir / "run/config.json");
  const auto metrics_before = lines(dir / "run/metrics.jsonl");
  c.resume = true;
  const std::vector<std::pair<std::function<void(TrainConfig&)>, std::string>> changes = {
      {[](TrainConfig& r) { r.schedule.base_lr = 0.1; }, "lr 0.05 → 0.1"},
      {[](TrainConfig& r) { r.seed = 9; }, "seed 4 → 9"},
      {[](TrainConfig& r) { r.hflip = false; }, "hflip true → false"},
      {[](TrainConfig& r) { r.crop_padding = 1; }, "crop_padding 2 → 1"},
      {[](TrainConfig& r) { r.train_subset = 32; }, "train_subset 0 → 32"},
      {[](TrainConfig& r) { r.decay.el2 = true; }, "el2 false → true"},
      {[&](TrainConfig& r) {
         std::filesystem::create_directories(dir / "copy");
         if (!std::filesystem::exists(dir / "copy/data")) std::filesystem::copy(dir / "data", dir / "copy/data");
         r.data_dir = dir / "copy/data";
       }, "data_dir"},
  };
  for (const auto& [change, needle] : changes) {
    auto r = c;
    change(r);
    try {
      Trainer(r, classification_task());
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("--resume would change the run's settings: " + needle), std::string::npos) << message;
      EXPECT_NE(message.find("--resume-override"), std::string::npos) << message;
    }
    EXPECT_EQ(lines(dir / "run/config.json"), config_before) << needle;
    EXPECT_EQ(lines(dir / "run/metrics.jsonl"), metrics_before) << needle;
  }
  auto r = c;
  r.resume_override = {"--no-such-setting"};
  EXPECT_THROW(Trainer(r, classification_task()), std::invalid_argument);
  // settings without meaning for the result change freely
  r = c;
  r.probe_every = 1;
  r.keep_checkpoints = 3;
  EXPECT_NO_THROW(Trainer(r, classification_task()));
}

TEST(Trainer, AStopRequestEndsTheEpochAfterTheCurrentStep) {
  TempDir dir;
  auto c = tiny(dir);
  c.out_dir = dir / "run";
  Trainer trainer(c, classification_task());
  int steps = 0;
  trainer.add_gradient_hook([&] {
    if (++steps == 2) g_stop_requested = true;
  });
  const auto result = trainer.run();
  g_stop_requested = false;
  EXPECT_TRUE(result.interrupted);
  EXPECT_EQ(steps, 2);
  EXPECT_TRUE(result.history.empty());
  EXPECT_NE(result.stop_message.find("interrupted in epoch 1"), std::string::npos) << result.stop_message;
  EXPECT_FALSE(std::filesystem::exists(dir / "run/checkpoint.pt"));  // no epoch completed
}

TEST(Trainer, ANonFiniteGradientStopsTheRunBeforeItsStepNamingTheParameter) {
  TempDir dir;
  auto c = tiny(dir);
  Trainer trainer(c, classification_task());
  const auto before = weights(trainer.model());
  const auto named = trainer.model().named_parameters();
  const std::string third = named[2].key();
  trainer.add_gradient_hook([&] { named[2].value().mutable_grad().view(-1)[0] = INFINITY; });
  const auto result = trainer.run();
  EXPECT_TRUE(result.diverged);
  EXPECT_NE(result.stop_message.find("training diverged: the gradient of " + third + " is not finite"),
            std::string::npos) << result.stop_message;
  EXPECT_NE(result.stop_message.find("at epoch 1 step 1"), std::string::npos) << result.stop_message;
  const auto after = weights(trainer.model());
  for (size_t k = 0; k < before.size(); ++k) EXPECT_TRUE(torch::equal(before[k], after[k])) << k;  // no step taken
}

TEST(Trainer, SkippingNonFiniteStepsCountsThemAndGivesUpAfterTwentyInARow) {
  TempDir dir;
  auto c = tiny(dir);
  c.on_nonfinite = "skip";
  {
    Trainer trainer(c, classification_task());
    int step = 0;
    trainer.add_gradient_hook([&] {
      if (++step == 2) trainer.model().parameters()[0].mutable_grad().fill_(NAN);
    });
    const auto result = trainer.run();
    EXPECT_FALSE(result.diverged) << result.stop_message;
    ASSERT_EQ(result.history.size(), 2u);
    EXPECT_EQ(result.history[0].value("nonfinite_skipped_steps"), 1);  // per epoch: step 2 is in epoch 1
    EXPECT_EQ(result.history[1].value("nonfinite_skipped_steps"), 0);
    for (const auto& w : weights(trainer.model())) EXPECT_TRUE(torch::isfinite(w).all().item<bool>());
  }
  c.epochs = 8;  // 24 steps
  Trainer trainer(c, classification_task());
  trainer.add_gradient_hook([&] { trainer.model().parameters()[0].mutable_grad().fill_(NAN); });
  const auto result = trainer.run();
  EXPECT_TRUE(result.diverged);
  EXPECT_NE(result.stop_message.find("(20 steps in a row)"), std::string::npos) << result.stop_message;
  EXPECT_NE(result.stop_message.find("epoch 7 step 2"), std::string::npos) << result.stop_message;
}

namespace {
// A policy with a float16 loss scaler's contract: it skips overflowing steps itself. Every loss here
// is NaN, as when a model's activations overflow float16 in the forward pass.
class AlwaysOverflowing : public ExecutionPolicy {
 public:
  AlwaysOverflowing() : ExecutionPolicy(Placement{}) {}
  bool skips_overflowing_steps() const override { return true; }
  std::pair<ModelOutput, torch::Tensor> forward(Model& model, const Task& task, const Batch& batch) const override {
    auto [output, loss] = ExecutionPolicy::forward(model, task, batch);
    return {output, loss * std::numeric_limits<float>::quiet_NaN()};
  }
  bool step(torch::optim::Optimizer&, const std::function<void()>&) override { return false; }
};
}  // namespace

TEST(Trainer, UnderLossScalingOverflowsAreSkippedByTheScalerUntilTwentyInARow) {
  TempDir dir;
  auto c = tiny(dir);
  c.epochs = 8;  // 24 steps
  Trainer trainer(c, classification_task(), {std::make_unique<AlwaysOverflowing>()});
  const auto result = trainer.run();
  EXPECT_TRUE(result.diverged);
  EXPECT_NE(result.stop_message.find("the loss is not finite"), std::string::npos) << result.stop_message;
  EXPECT_NE(result.stop_message.find("(20 steps in a row)"), std::string::npos) << result.stop_message;
}

TEST(LossWatch, WarnsOnceWhenTheLossGrowsTwoOrdersOfMagnitudeForAWholeWindow) {
  LossWatch watch(5, 100);
  int warnings = 0;
  for (int i = 0; i < 20; ++i) warnings += watch.add(1.0).has_value();
  EXPECT_EQ(warnings, 0);
  for (int i = 0; i < 5; ++i) warnings += watch.add(50.0).has_value();  // 50×: noisy, not a blow-up
  for (int i = 0; i < 5; ++i) warnings += watch.add(1.0).has_value();
  EXPECT_EQ(warnings, 0);
  std::optional<std::string> message;
  int at = -1;
  for (int i = 0; i < 30 && !message; ++i)
    if ((message = watch.add(1000.0))) at = i;
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(at, 4);  // the mean passes 100× at the first step of 1000, then stays above it a whole window
  EXPECT_NE(message->find("the training loss is growing"), std::string::npos) << *message;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(watch.add(1000.0).has_value());  // once
}

TEST(Trainer, ImpossibleConfigurationsAreRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  auto expect_refused = [&](TrainConfig c, const std::string& needle) {
    c.out_dir = dir / "run";
    try {
      Trainer(c, classification_task());
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "run")) << needle;
  };
  auto c = tiny(dir);
  c.data = "cifar-7";
  expect_refused(c, "unknown --data 'cifar-7'");
  c = tiny(dir);
  c.batch_size = 64;
  expect_refused(c, "smaller than --batch-size 64");
  c = tiny(dir);
  c.data_dir = dir / "nowhere";
  expect_refused(c, "nowhere: data directory does not exist");
  c = tiny(dir);
  c.resume = true;
  expect_refused(c, "no such checkpoint file");
  c = tiny(dir);
  c.train_subset = 49;
  expect_refused(c, "--train-subset 49 is more than the 48 examples");
  c = tiny(dir);
  c.test_subset = 21;
  expect_refused(c, "--test-subset 21 is more than the 20 examples");
  c = tiny(dir);
  c.crop_padding = 8;
  expect_refused(c, "--crop-padding 8 must be smaller than the images (1x8x8)");
  // a test split that does not fit the training split
  std::filesystem::create_directories(dir / "mixed");
  std::filesystem::create_directories(dir / "other");
  write_mnist_layout(dir / "mixed", 48, 20, 8, 8, 4);
  write_mnist_layout(dir / "other", 48, 20, 9, 8, 4);
  std::filesystem::copy_file(dir / "other/t10k-images-idx3-ubyte", dir / "mixed/t10k-images-idx3-ubyte",
                             std::filesystem::copy_options::overwrite_existing);
  c = tiny(dir);
  c.data_dir = dir / "mixed";
  expect_refused(c, "the test images are 1x9x8 but the training images 1x8x8");
  write_mnist_layout(dir / "other", 48, 20, 8, 8, 6);
  std::filesystem::copy_file(dir / "other/t10k-labels-idx1-ubyte", dir / "mixed/t10k-labels-idx1-ubyte",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir / "other/t10k-images-idx3-ubyte", dir / "mixed/t10k-images-idx3-ubyte",
                             std::filesystem::copy_options::overwrite_existing);
  expect_refused(c, "the test labels go up to 5 but the training set has only 4 classes");
}

TEST(Trainer, EveryStepDrivesTheSimulatedFloat16LossScale) {
  TempDir dir;
  auto c = tiny(dir);
  c.out_dir = dir / "run";
  c.probe_every = 1;
  Trainer trainer(c, classification_task());
  // the hook records max|g| over every parameter; on steps 2 and 3 it rescales the gradients to
  // max|g| = 2, which overflows float16 at 2^16 (2·65536 ≥ 65504) and at 2^15 (2·32768 ≥ 65504)
  std::vector<double> maxima;
  trainer.add_gradient_hook([&] {
    torch::NoGradGuard no_grad;
    double m = 0;
    for (const auto& p : trainer.model().parameters())
      if (p.grad().defined()) m = std::max(m, p.grad().abs().max().item<double>());
    const size_t step = maxima.size() + 1;
    if (step == 2 || step == 3) {
      for (auto& p : trainer.model().parameters())
        if (p.grad().defined()) p.mutable_grad().mul_(2.0 / m);
      m = 2.0;
    }
    maxima.push_back(m);
  });
  const auto result = trainer.run();
  ASSERT_EQ(result.probes.size(), 6u);
  ASSERT_EQ(maxima.size(), 6u);
  double scale = 65536;  // GradScaler's rule, by hand: halve on an overflow (no growth in 6 steps)
  int64_t overflows = 0;
  for (size_t i = 0; i < 6; ++i) {
    const auto& p = result.probes[i];
    SCOPED_TRACE(i + 1);
    EXPECT_EQ(p.loss_scale, scale);
    EXPECT_NEAR(p.fp16_scaled_ratio, maxima[i] * scale / 65504, 1e-6 * p.fp16_scaled_ratio);
    if (maxima[i] * scale >= 65504) ++overflows, scale /= 2;
    EXPECT_EQ(p.fp16_overflow_steps, overflows);
  }
  EXPECT_GE(overflows, 2);
  const auto log = lines(dir / "run/metrics.jsonl");
  EXPECT_EQ(log.at(2).at("kind"), "probe");
  EXPECT_EQ(log.at(2).at("loss_scale").get<double>(), result.probes[2].loss_scale);
  EXPECT_EQ(log.at(2).at("fp16_overflow_steps").get<int64_t>(), result.probes[2].fp16_overflow_steps);
}
