#pragma once
// A task's evaluation: it takes the model's outputs batch by batch and finalizes a metric set.
// A data-parallel evaluation gathers what every process took (to_bytes on each, merge in rank
// order on one fresh evaluator) before finalizing, so the metrics need not be sums (COCO AP is not).
#include <memory>
#include <string>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/data/batch.h"
#include "eshift/models/model_output.h"

namespace eshift {

class Task;

class TaskEvaluator {
 public:
  virtual ~TaskEvaluator() = default;
  // The model's output (eval mode) for a placed batch.
  virtual void add(const ModelOutput& output, const Batch& batch) = 0;
  // What was added, as bytes another process merges.
  virtual std::string to_bytes() const = 0;
  virtual void merge(const std::string& bytes) = 0;
  // The metrics over everything added and merged, in the task's order.
  virtual Metrics finalize() const = 0;
  // The results as files beside `prefix` (COCO results files: <prefix>.bbox.json,
  // <prefix>.segm.json); the paths written. A task without a results format writes none.
  virtual std::vector<std::string> write_results(const std::string& prefix) const { return {}; }
};

// Means of the task's measure() sums over the examples (classification's loss and accuracy).
class SumsEvaluator : public TaskEvaluator {
 public:
  explicit SumsEvaluator(const Task& task);
  void add(const ModelOutput& output, const Batch& batch) override;
  std::string to_bytes() const override;  // the sums and the count, as doubles
  void merge(const std::string& bytes) override;
  Metrics finalize() const override { return sums_.means(); }
  const MetricSums& sums() const { return sums_; }

 private:
  const Task& task_;
  MetricSums sums_;
};

}  // namespace eshift
