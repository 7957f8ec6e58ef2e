#pragma once
// A task: what the model's output is compared with and how well it does. It owns the loss, the
// metrics and the meaning of a batch's targets; the trainer loop only calls it, so a new task
// (label smoothing, top-5, detection) changes nothing in the loop.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/data/batch.h"
#include "eshift/data/dataset.h"

namespace eshift {

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // The metrics measure() sums, in the order they are printed and logged; the first is the loss.
  virtual const std::vector<MetricInfo>& metrics() const = 0;
  // The batch's loss averaged over its examples: what backward differentiates.
  virtual torch::Tensor loss(const torch::Tensor& output, const Batch& batch) const = 0;
  // Adds the batch's metric sums and example count to `sums`. In training, `mean_loss` is the value
  // of loss() for this batch (reused, not recomputed); in evaluation it is empty.
  virtual void measure(const torch::Tensor& output, const Batch& batch, std::optional<double> mean_loss,
                       MetricSums& sums) const = 0;
  // Whether the task can learn from `train` and be measured on `eval` (read from `dir`): throws
  // DataError naming the directory when not. Run before anything else is set up.
  virtual void check(const Dataset& train, const Dataset& eval, const std::string& dir) const {}
};

}  // namespace eshift
