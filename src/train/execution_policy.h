#pragma once
// Where and in which precision a training step runs: the extension point around forward and
// backward. This base policy places batches on the device in the model's memory format
// (core/placement.h) and runs in full precision. A mixed-precision policy derives from it:
// forward() under autocast, backward() on the scaled loss, step() unscaling the gradients and
// skipping a step whose gradients overflowed; the trainer takes any policy (trainer.h).
#include <torch/torch.h>

#include <utility>

#include "eshift/core/placement.h"
#include "eshift/data/batch.h"
#include "eshift/models/model.h"
#include "eshift/tasks/task.h"

namespace eshift {

class ExecutionPolicy {
 public:
  explicit ExecutionPolicy(Placement placement) : placement_(placement) {}
  virtual ~ExecutionPolicy() = default;
  const Placement& placement() const { return placement_; }

  // The batch where the model runs: inputs on the device in its memory format, targets on the device.
  virtual Batch place(const Batch& batch) const {
    return {placement_.input(batch.inputs), batch.targets.to(placement_.device)};
  }
  // The model's output for a placed batch and the task's loss of it.
  virtual std::pair<torch::Tensor, torch::Tensor> forward(Model& model, const Task& task, const Batch& batch) const {
    auto output = model.forward(batch.inputs);
    auto loss = task.loss(output, batch);
    return {output, loss};
  }
  virtual void backward(const torch::Tensor& loss) const { loss.backward(); }
  // Takes the optimizer's step; false when the policy skips it.
  virtual bool step(torch::optim::Optimizer& optimizer) const {
    optimizer.step();
    return true;
  }

 private:
  Placement placement_;
};

}  // namespace eshift
