#pragma once
// A task: what a run learns. It opens the run's data (its splits, transforms and collation), says
// which models it can train, turns the model's output into the loss backward differentiates, and
// measures: sums over the training examples, and an evaluator over the evaluation split (sums for
// classification, COCO AP for detection). The trainer loop only calls it, so a new task changes
// nothing in the loop.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/data/batch.h"
#include "eshift/data/data_split.h"
#include "eshift/data/dataset.h"
#include "eshift/models/model.h"
#include "eshift/models/model_output.h"
#include "eshift/tasks/evaluator.h"

namespace eshift {

// What a run asks of its data: --data and its directory (resolved), the dataset's options, the
// training augmentation and the subsets (0: all).
struct DataRequest {
  std::string name, dir;
  DataOptions options;
  AugmentOptions augment;
  int64_t train_subset = 0, test_subset = 0;
};

// `set` cut to its first n examples (--train-subset, --test-subset: `flag`; n = 0 keeps them all);
// std::invalid_argument "<flag> <n> is more than the <size> <what>" when it has fewer.
template <typename Set>
void take_subset(std::shared_ptr<const Set>& set, int64_t n, const std::string& flag, const std::string& what) {
  if (n == 0) return;
  if (n > set->size())
    throw std::invalid_argument(flag + " " + std::to_string(n) + " is more than the " + std::to_string(set->size()) +
                                " " + what);
  set = set->head(n);
}

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // The metrics measure() sums in training, in the order they are printed and logged; the first is the loss.
  virtual const std::vector<MetricInfo>& metrics() const = 0;
  // The batch's loss averaged over its examples: what backward differentiates.
  virtual torch::Tensor loss(const ModelOutput& output, const Batch& batch) const = 0;
  // Adds the batch's metric sums and example count to `sums`. In training, `mean_loss` is the value
  // of loss() for this batch (reused, not recomputed); in evaluation it is empty.
  virtual void measure(const ModelOutput& output, const Batch& batch, std::optional<double> mean_loss,
                       MetricSums& sums) const = 0;
  // The run's training and evaluation splits, checked: throws DataError naming the directory or
  // file, std::invalid_argument naming the flag. Run before anything else is set up.
  virtual TaskData open_data(const DataRequest& request) const = 0;
  // Whether the task can train `model`: throws std::invalid_argument naming --model when not.
  virtual void check(const Model& model) const {}
  // An empty evaluation of `eval` (one of open_data's splits). Default: the sums of measure().
  virtual std::unique_ptr<TaskEvaluator> evaluator(const DataSplit& eval) const;
  // Examples per evaluation batch when --eval-batch-size is not given.
  virtual int64_t eval_batch_size() const { return 500; }
};

}  // namespace eshift
