// One training step and one evaluation pass, checked against autograd and hand sums in float64:
// the step applies exactly the gradient of the task's loss at the output it returns, and
// evaluation is the task's metrics over the whole set in eval mode.
#include <gtest/gtest.h>

#include "eshift/data/image_set.h"
#include "eshift/models/registry.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/step.h"

using namespace eshift;

namespace {
std::shared_ptr<Model> tiny_model() {
  torch::manual_seed(5);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 4;
  spec.in_channels = 1;
  spec.num_classes = 3;
  auto model = build_model(spec);
  model->to(torch::kFloat64);
  return model;
}
}  // namespace

TEST(TrainStep, AppliesTheGradientOfTheTasksLossAtTheOutputItReturns) {
  auto model = tiny_model();
  const ClassificationTask task;
  ExecutionPolicy policy(Placement{torch::kCPU, false});
  const Batch batch{torch::randn({6, 1, 8, 8}, torch::kFloat64), torch::tensor({0, 1, 2, 0, 1, 2}, torch::kInt64)};
  // the expected update, by autograd on a copy of the same state
  std::vector<torch::Tensor> before, grads;
  {
    auto copy = tiny_model();
    copy->train();
    task.loss(copy->forward(batch.inputs), batch).backward();
    for (const auto& p : copy->parameters()) {
      before.push_back(p.detach().clone());
      grads.push_back(p.grad().clone());
    }
  }
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
  int hook_calls = 0;
  model->train();
  const auto out = train_step(*model, task, sgd, policy, batch, [&] { ++hook_calls; });
  EXPECT_EQ(hook_calls, 1);
  EXPECT_TRUE(out.stepped);
  EXPECT_EQ(out.output.logits.sizes(), (std::vector<int64_t>{6, 3}));
  EXPECT_NEAR(out.loss, task.loss(out.output, batch).item<double>(), 1e-12);
  const auto params = model->parameters();
  for (size_t k = 0; k < params.size(); ++k)
    EXPECT_TRUE(torch::allclose(params[k], before[k] - 0.1 * grads[k], 1e-10, 1e-12)) << k;
}

TEST(Evaluate, IsTheTasksMetricsOverTheWholeSetInEvalMode) {
  auto model = tiny_model();
  ImageSet set;
  set.images = torch::randint(0, 256, {10, 1, 8, 8}, torch::kInt64).to(torch::kUInt8);
  set.labels = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, torch::kInt64);
  set.num_classes = 3;
  auto data = std::make_shared<ImageSetDataset>(set);
  const ClassificationTask task;
  ExecutionPolicy policy(Placement{torch::kCPU, false});
  PadCropFlip normalize(0, false, {0.5}, {0.25});
  model->train();
  // batches of 4: 4 + 4 + 2 examples; inputs are float32, as the loader makes them
  model->to(torch::kFloat32);
  const auto m = evaluate(*model, task, data, normalize, policy, 4);
  EXPECT_TRUE(model->is_training());  // restored
  torch::NoGradGuard no_grad;
  model->eval();
  const auto x = (set.images.to(torch::kFloat32) / 255.0 - 0.5) / 0.25;
  const auto logits = model->forward(x);
  const double loss = torch::nn::functional::cross_entropy(logits, set.labels).item<double>();
  const double acc = logits.argmax(1).eq(set.labels).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(m.at("loss"), loss, 1e-6 * loss);  // float32 sums in batches of 4 vs one mean
  EXPECT_DOUBLE_EQ(m.at("acc"), acc);
}
