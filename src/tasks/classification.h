#pragma once
// Image classification: the model outputs logits [B, classes], the targets are class indices [B].
//   loss  mean cross-entropy (log-softmax + negative log-likelihood, LibTorch's cross_entropy)
//   acc   top-1 accuracy: the fraction of examples whose largest logit is the target class
#include "eshift/tasks/task.h"

namespace eshift {

class ClassificationTask : public Task {
 public:
  std::string name() const override { return "classification"; }
  const std::vector<MetricInfo>& metrics() const override;
  torch::Tensor loss(const torch::Tensor& logits, const Batch& batch) const override;
  void measure(const torch::Tensor& logits, const Batch& batch, std::optional<double> mean_loss,
               MetricSums& sums) const override;
};

std::shared_ptr<const Task> classification_task();

}  // namespace eshift
