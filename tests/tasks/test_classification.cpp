// Classification: the loss is the mean cross-entropy (checked by hand in float64), accuracy counts
// examples whose largest logit is the target, and training reuses the step's mean loss.
#include <gtest/gtest.h>

#include <cmath>

#include "eshift/tasks/classification.h"

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
