#include "eshift/train/step.h"

#include "eshift/data/batch_loader.h"

namespace eshift {

StepResult train_step(Model& model, const Task& task, torch::optim::Optimizer& optimizer, ExecutionPolicy& policy,
                      const Batch& batch, const GradientHook& gradient_hook, const GradientHook& before_update) {
  auto [output, loss] = policy.forward(model, task, batch);
  optimizer.zero_grad();
  policy.backward(loss);
  if (gradient_hook) gradient_hook();
  const bool stepped = policy.step(optimizer, before_update);
  return {output.detach(), loss.item<double>(), stepped};
}

Metrics evaluate(Model& model, const Task& task, std::shared_ptr<const Dataset> data, const Transform& transform,
                 const ExecutionPolicy& policy, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  BatchLoader loader(std::move(data), transform, options, 0);
  MetricSums sums(task.metrics());
  while (auto batch = loader.next()) {
    const auto placed = policy.place(*batch);
    task.measure(policy.infer(model, placed.inputs), placed, std::nullopt, sums);
  }
  model.train(was_training);
  return sums.means();
}

}  // namespace eshift
