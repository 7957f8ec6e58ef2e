#include "eshift/tasks/classification.h"

namespace eshift {

const std::vector<MetricInfo>& ClassificationTask::metrics() const {
  static const std::vector<MetricInfo> infos = {{"loss", "loss", false}, {"acc", "accuracy", true}};
  return infos;
}

torch::Tensor ClassificationTask::loss(const torch::Tensor& logits, const Batch& batch) const {
  return torch::nn::functional::cross_entropy(logits, batch.targets);
}

void ClassificationTask::measure(const torch::Tensor& logits, const Batch& batch, std::optional<double> mean_loss,
                                 MetricSums& sums) const {
  const int64_t n = batch.targets.size(0);
  const int64_t correct = logits.argmax(1).eq(batch.targets).sum().item<int64_t>();
  const double loss_sum =
      mean_loss ? *mean_loss * double(n)
                : torch::nn::functional::cross_entropy(
                      logits, batch.targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
  sums.add("loss", loss_sum);
  sums.add("acc", double(correct));
  sums.count(n);
}

std::shared_ptr<const Task> classification_task() { return std::make_shared<ClassificationTask>(); }

}  // namespace eshift

