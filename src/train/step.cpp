#include "eshift/train/step.h"

#include <cmath>

#include "eshift/data/batch_loader.h"

namespace eshift {

StepResult train_step(Model& model, const Task& task, torch::optim::Optimizer& optimizer, ExecutionPolicy& policy,
                      const Batch& batch, const GradientHook& gradient_hook, const GradientHook& before_update,
                      const AfterBackward& after_backward) {
  auto [output, loss] = policy.forward(model, task, batch);
  clear_gradients(optimizer);
  policy.backward(loss);
  if (after_backward) after_backward(loss);
  if (gradient_hook) gradient_hook();
  if (!policy.skips_overflowing_steps()) {
    auto where = first_nonfinite(model, loss);
    if (!where.empty()) return {output.detached(), loss.item<double>(), false, std::move(where)};
  }
  const bool stepped = policy.step(optimizer, before_update);
  const double value = loss.item<double>();
  // under loss scaling the scaler skipped this step; the trainer still counts non-finite losses in a row
  return {output.detached(), value, stepped, std::isfinite(value) ? "" : "the loss"};
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

std::string first_nonfinite(Model& model, const torch::Tensor& loss) {
  torch::NoGradGuard no_grad;
  // one sum and one synchronization: inf or NaN anywhere makes it non-finite (a finite sum that
  // overflows float32 is looked at parameter by parameter below, and passes)
  auto total = loss.detach().to(torch::kFloat).sum();
  const auto named = model.named_parameters();
  for (const auto& p : named)
    if (p.value().grad().defined()) total = total + p.value().grad().sum().to(torch::kFloat);
  if (std::isfinite(total.item<double>())) return "";
  if (!std::isfinite(loss.item<double>())) return "the loss";
  for (const auto& p : named)
    if (p.value().grad().defined() && !torch::isfinite(p.value().grad()).all().item<bool>())
      return "the gradient of " + p.key();
  return "";
}

Metrics evaluate(Model& model, const Task& task, std::shared_ptr<const Dataset> data, const Transform& transform,
                 const ExecutionPolicy& policy, int64_t batch_size) {
  const ImageSplit split(std::move(data), transform.clone());
  return evaluate_split(model, task, split, policy, batch_size)->finalize();
}

std::unique_ptr<TaskEvaluator> evaluate_split(Model& model, const Task& task, const DataSplit& split,
                                              const ExecutionPolicy& policy, int64_t batch_size, int rank,
                                              int world_size, int workers, RunObserver* observer) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  options.rank = rank;
  options.world_size = world_size;
  options.pad = false;  // a repeated example would count twice
  options.keep_batch_size = false;  // an unreadable image is left out, not counted twice
  options.workers = workers;
  options.pin_memory = policy.placement().device.is_cuda();
  ConsoleObserver console;
  RunObserver& report = observer ? *observer : console;
  auto loader = split.loader(options, 0);
  auto evaluator = task.evaluator(split);
  while (auto batch = loader->next()) {
    for (const auto& message : batch->unreadable) report.warning("left out of the evaluation: " + message);
    const auto placed = policy.place(*batch);
    evaluator->add(policy.infer(model, placed), placed);
  }
  model.train(was_training);
  return evaluator;
}

}  // namespace eshift
