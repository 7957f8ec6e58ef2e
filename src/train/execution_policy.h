#pragma once
// Where and in which precision a training step runs: the extension point around forward and
// backward. This base policy places batches on the device in the model's memory format
// (core/placement.h) and runs everything in float32. MixedPrecisionPolicy (mixed_precision.h)
// derives from it: forward under autocast, float16 loss scaling in backward and step.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

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
  virtual std::string describe() const { return "float32"; }

  // The batch where the model runs: inputs on the device in its memory format, targets (class
  // indices, or each image's objects) on the device.
  virtual Batch place(const Batch& batch) const {
    return batch.with_targets_on(placement_.device, placement_.input(batch.inputs));
  }
  // Training: the model's output for a placed batch and the task's loss of it.
  virtual std::pair<ModelOutput, torch::Tensor> forward(Model& model, const Task& task, const Batch& batch) const {
    auto output = model.forward_batch(batch);
    auto loss = task.loss(output, batch);
    return {std::move(output), loss};
  }
  // Evaluation: the model's output for a placed batch, logits as float32.
  virtual ModelOutput infer(Model& model, const Batch& batch) const { return model.forward_batch(batch); }
  virtual void backward(const torch::Tensor& loss) { loss.backward(); }
  // Makes the gradients what the optimizer will use (mixed precision: unscaled), lets `inspect` read
  // them, and takes the optimizer's step; false when it skips it (a float16 overflow).
  virtual bool step(torch::optim::Optimizer& optimizer, const std::function<void()>& inspect) {
    if (inspect) inspect();
    optimizer.step();
    return true;
  }

  // True when step() itself skips steps whose gradients overflowed (float16 loss scaling); the
  // trainer's own non-finite check leaves those steps to it.
  virtual bool skips_overflowing_steps() const { return false; }

  // Values logged with every epoch (metrics.jsonl, TensorBoard "amp/…"): none in float32.
  virtual std::vector<std::pair<std::string, double>> stats() const { return {}; }
  // State a resumed run continues from (the loss scale): none in float32.
  virtual bool has_state() const { return false; }
  virtual void save(torch::serialize::OutputArchive& archive) const {}
  virtual void load(torch::serialize::InputArchive& archive) {}

 private:
  Placement placement_;
};

}  // namespace eshift
