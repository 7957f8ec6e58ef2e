#pragma once
// One training step and one evaluation pass, for any model, task and execution policy:
//   forward + loss (policy) → clear gradients → backward (policy) → after_backward (data parallelism)
//     → gradient hook
//     → non-finite check (loss and every gradient; under float16 loss scaling only the loss, after
//       the scaler, which skips overflowing steps itself)
//     → step (policy: gradients made what the optimizer uses → before_update → optimizer step)
// The gradient hook sees the gradients as backward left them (times the loss scale under float16
// mixed precision): where an all-reduce across processes will average them. before_update sees
// them as the optimizer will use them: where the probes read them.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/data/batch.h"
#include "eshift/data/dataset.h"
#include "eshift/models/model.h"
#include "eshift/observe/run_observer.h"
#include "eshift/tasks/task.h"
#include "eshift/train/execution_policy.h"

namespace eshift {

using GradientHook = std::function<void()>;
// Runs right after backward, before the gradient hook, and may replace the loss (data parallelism:
// averages the gradients and the loss over the processes).
using AfterBackward = std::function<void(torch::Tensor& loss)>;

struct StepResult {
  ModelOutput output;     // the model's output for the batch (detached)
  double loss = 0;        // the batch's mean loss
  bool stepped = true;    // false when the step was skipped (float16 overflow, or non-finite)
  std::string nonfinite;  // "" or what was not finite: "the loss", "the gradient of <parameter>"
};

// Sets every parameter's gradient to none (LibTorch 2.x's zero_grad() default, and PyTorch's since
// 2.0), on 1.13 too: backward then stores each gradient instead of adding it to zeros (two passes
// over the parameters' size less a step), and the optimizers skip a parameter the loss does not
// reach, as torch.optim does. (Across processes, the gradient reducer gives such a parameter zeros.)
void clear_gradients(torch::optim::Optimizer& optimizer);

// "" when the loss and every gradient are finite, else the first that is not (in parameter order).
std::string first_nonfinite(Model& model, const torch::Tensor& loss);

// One step on a batch already placed by the policy.
StepResult train_step(Model& model, const Task& task, torch::optim::Optimizer& optimizer, ExecutionPolicy& policy,
                      const Batch& batch, const GradientHook& gradient_hook = {},
                      const GradientHook& before_update = {}, const AfterBackward& after_backward = {});

// The task's evaluation of rank `rank`'s share of a split (every world_size-th example, unpadded,
// data/sampler.h) in eval mode, batches of `batch_size`: the task's evaluator holding what it took
// (the ranks' evaluators merged make the whole split's, tasks/evaluator.h). An image that cannot
// be read is left out with a warning to `observer` (none: the console's, on stderr).
std::unique_ptr<TaskEvaluator> evaluate_split(Model& model, const Task& task, const DataSplit& split,
                                              const ExecutionPolicy& policy, int64_t batch_size, int rank = 0,
                                              int world_size = 1, int workers = 1, RunObserver* observer = nullptr);
// The task's metrics over a whole classification dataset through `transform`, batches of `batch_size`.
Metrics evaluate(Model& model, const Task& task, std::shared_ptr<const Dataset> data, const Transform& transform,
                 const ExecutionPolicy& policy, int64_t batch_size);

}  // namespace eshift
