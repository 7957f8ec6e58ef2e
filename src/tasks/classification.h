#pragma once
// Image classification: the model outputs logits [B, classes] (ModelOutput::logits), the targets are
// class indices [B] (Batch::targets).
//   loss  mean cross-entropy (log-softmax + negative log-likelihood, LibTorch's cross_entropy),
//         with label smoothing s against the target (1 − s)·one-hot + s/K (K classes), as
//         PyTorch's CrossEntropyLoss(label_smoothing=s); evaluation uses the same loss
//   acc   top-1 accuracy: the fraction of examples whose largest logit is the target class
//   acc5  top-5 accuracy (when asked): the target is among the 5 largest logits (all of them when
//         there are fewer than 5 classes)
#include "eshift/tasks/task.h"

namespace eshift {

struct ClassificationOptions {
  double label_smoothing = 0;
  bool top5 = false;
};

class ClassificationTask : public Task {
 public:
  explicit ClassificationTask(ClassificationOptions options = {});
  std::string name() const override { return "classification"; }
  const std::vector<MetricInfo>& metrics() const override { return metrics_; }
  torch::Tensor loss(const ModelOutput& output, const Batch& batch) const override;
  void measure(const ModelOutput& output, const Batch& batch, std::optional<double> mean_loss,
               MetricSums& sums) const override;
  // A classification dataset of the registry (data/registry.h): its train and test splits, the
  // subsets, the training set's channel statistics as the normalization, its augmentation. The
  // splits' images must have one shape, the test labels must be among the training classes and the
  // crop padding smaller than the images.
  TaskData open_data(const DataRequest& request) const override;
  // A classifier (logits), not a detector.
  void check(const Model& model) const override;

 private:
  ClassificationOptions options_;
  std::vector<MetricInfo> metrics_;
};

std::shared_ptr<const Task> classification_task(ClassificationOptions options = {});

}  // namespace eshift
