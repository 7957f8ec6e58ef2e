// Classification: the loss is the mean cross-entropy (checked by hand in float64), accuracy counts
// examples whose largest logit is the target, and training reuses the step's mean loss.
#include <gtest/gtest.h>

#include <cmath>

#include "eshift/tasks/classification.h"
#include "eshift/tasks/registry.h"

using namespace eshift;

namespace {
Batch batch_of(const torch::Tensor& targets) { return {torch::zeros({targets.size(0), 1, 1, 1}), targets}; }
}  // namespace

TEST(ClassificationTask, LossIsMeanCrossEntropyByHand) {
  const ClassificationTask task;
  auto logits = torch::tensor({{2.0, 0.0, -1.0}, {0.5, 0.5, 3.0}}, torch::kFloat64);
  auto batch = batch_of(torch::tensor({0, 1}, torch::kInt64));
  // −log softmax(z)_y per example
  const double l0 = -(2.0 - std::log(std::exp(2.0) + std::exp(0.0) + std::exp(-1.0)));
  const double l1 = -(0.5 - std::log(std::exp(0.5) + std::exp(0.5) + std::exp(3.0)));
  EXPECT_NEAR(task.loss(logits, batch).item<double>(), (l0 + l1) / 2, 1e-15);

  MetricSums eval(task.metrics());
  task.measure(logits, batch, std::nullopt, eval);  // evaluation: the summed loss, computed
  const auto m = eval.means();
  EXPECT_NEAR(m.at("loss"), (l0 + l1) / 2, 1e-15);
  EXPECT_DOUBLE_EQ(m.at("acc"), 0.5);  // example 0 right (argmax 0), example 1 wrong (argmax 2)
}

TEST(ClassificationTask, TrainingReusesTheStepsLossAndAccumulatesOverBatches) {
  const ClassificationTask task;
  MetricSums sums(task.metrics());
  auto logits = torch::tensor({{0.0, 1.0}, {1.0, 0.0}, {0.0, 1.0}}, torch::kFloat32);
  task.measure(logits, batch_of(torch::tensor({1, 0, 0}, torch::kInt64)), /*mean_loss=*/0.25, sums);
  task.measure(logits.narrow(0, 0, 1), batch_of(torch::tensor({1}, torch::kInt64)), /*mean_loss=*/1.0, sums);
  EXPECT_EQ(sums.examples(), 4);
  const auto m = sums.means();
  EXPECT_DOUBLE_EQ(m.at("loss"), (0.25 * 3 + 1.0) / 4);  // the given means, weighted by batch size
  EXPECT_DOUBLE_EQ(m.at("acc"), 3.0 / 4);
  ASSERT_EQ(task.metrics().size(), 2u);
  EXPECT_EQ(task.metrics()[1].title, "accuracy");  // TensorBoard's tag
  EXPECT_TRUE(task.metrics()[1].percent);
}

TEST(ClassificationTask, LabelSmoothingIsCrossEntropyAgainstTheSmoothedTargetByHand) {
  const double s = 0.1;
  const ClassificationTask task({s, false});
  auto logits = torch::tensor({{2.0, 0.0, -1.0}, {0.5, 0.5, 3.0}}, torch::kFloat64).requires_grad_(true);
  auto batch = batch_of(torch::tensor({0, 1}, torch::kInt64));
  // Σ_k q_k · (−log softmax(z)_k), q = (1 − s)·one-hot + s/K, K = 3
  double expected = 0;
  const double z[2][3] = {{2.0, 0.0, -1.0}, {0.5, 0.5, 3.0}};
  const int y[2] = {0, 1};
  for (int i = 0; i < 2; ++i) {
    const double lse = std::log(std::exp(z[i][0]) + std::exp(z[i][1]) + std::exp(z[i][2]));
    for (int k = 0; k < 3; ++k) expected += ((k == y[i] ? 1 - s : 0) + s / 3) * (lse - z[i][k]) / 2;
  }
  auto loss = task.loss(logits, batch);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-14);
  // its gradient is (softmax(z) − q)/B
  loss.backward();
  const auto q = torch::tensor({{1 - s + s / 3, s / 3, s / 3}, {s / 3, 1 - s + s / 3, s / 3}}, torch::kFloat64);
  const auto want = (torch::softmax(logits.detach(), 1) - q) / 2;
  EXPECT_LE((logits.grad() - want).abs().max().item<double>(), 1e-15);
  MetricSums eval(task.metrics());
  task.measure(logits.detach(), batch, std::nullopt, eval);
  EXPECT_NEAR(eval.means().at("loss"), expected, 1e-14);  // evaluation uses the same loss
}

TEST(ClassificationTask, TopFiveCountsTheTargetAmongTheFiveLargestLogits) {
  const ClassificationTask task({0, /*top5=*/true});
  ASSERT_EQ(task.metrics().size(), 3u);
  EXPECT_EQ(task.metrics()[2].key, "acc5");
  // 7 classes; example 0: target ranks 5th (in), example 1: 6th (out), example 2: 1st
  auto logits = torch::tensor({{7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0}, {7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0}, {0.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0}});
  MetricSums sums(task.metrics());
  task.measure(logits, batch_of(torch::tensor({4, 5, 1}, torch::kInt64)), std::nullopt, sums);
  const auto m = sums.means();
  EXPECT_DOUBLE_EQ(m.at("acc5"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.at("acc"), 1.0 / 3);
  // fewer than 5 classes: every target is in the top 5
  MetricSums two(task.metrics());
  task.measure(torch::tensor({{1.0, 0.0}}), batch_of(torch::tensor({1}, torch::kInt64)), std::nullopt, two);
  EXPECT_DOUBLE_EQ(two.means().at("acc5"), 1.0);
}

namespace eshift {
namespace {

TEST(TaskRegistry, MakesEachTaskWithItsOptionsAndNamesTheKnownTasks) {
  const auto task = make_task("classify", {0.1, true});
  EXPECT_EQ(task->name(), "classification");
  EXPECT_EQ(task->metrics().size(), 3u);  // loss, acc, acc5 (--top5)
  EXPECT_EQ(make_task("detect", {})->name(), "detection");
  try {
    make_task("segment", {});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "unknown --task 'segment' (known: classify, detect)");
  }
}

TEST(SumsEvaluator, ProcessesThatMergeTheirSumsGetTheWholeSplitsMetrics) {
  const ClassificationTask task;
  auto logits = torch::tensor({{2.0, 0.0}, {0.5, 1.5}, {3.0, 0.0}, {0.0, 1.0}, {1.0, 0.2}}, torch::kFloat64);
  auto targets = torch::tensor({0, 0, 0, 1, 1}, torch::kInt64);
  SumsEvaluator whole(task), rank0(task), rank1(task), merged(task);
  whole.add(logits, batch_of(targets));
  rank0.add(logits.narrow(0, 0, 2), batch_of(targets.narrow(0, 0, 2)));
  rank1.add(logits.narrow(0, 2, 3), batch_of(targets.narrow(0, 2, 3)));
  merged.merge(rank0.to_bytes());
  merged.merge(rank1.to_bytes());
  EXPECT_EQ(merged.sums().examples(), 5);
  EXPECT_DOUBLE_EQ(merged.finalize().at("acc"), 3.0 / 5);
  EXPECT_NEAR(merged.finalize().at("loss"), whole.finalize().at("loss"), 1e-15);
  EXPECT_THROW(merged.merge("not eight-byte sums"), std::runtime_error);
}

}  // namespace
}  // namespace eshift
