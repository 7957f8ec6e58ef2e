#include "eshift/tasks/classification.h"

#include "eshift/core/errors.h"

#include <algorithm>

namespace eshift {

namespace F = torch::nn::functional;

ClassificationTask::ClassificationTask(ClassificationOptions options) : options_(options) {
  TORCH_CHECK(options_.label_smoothing >= 0 && options_.label_smoothing < 1, "label smoothing must be in [0, 1)");
  metrics_ = {{"loss", "loss", false}, {"acc", "accuracy", true}};
  if (options_.top5) metrics_.push_back({"acc5", "top5_accuracy", true});
}

torch::Tensor ClassificationTask::loss(const torch::Tensor& logits, const Batch& batch) const {
  return F::cross_entropy(logits, batch.targets, F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing));
}

void ClassificationTask::measure(const torch::Tensor& logits, const Batch& batch, std::optional<double> mean_loss,
                                 MetricSums& sums) const {
  const int64_t n = batch.targets.size(0);
  const int64_t correct = logits.argmax(1).eq(batch.targets).sum().item<int64_t>();
  const double loss_sum = mean_loss ? *mean_loss * double(n)
                                    : F::cross_entropy(logits, batch.targets,
                                                       F::CrossEntropyFuncOptions()
                                                           .reduction(torch::kSum)
                                                           .label_smoothing(options_.label_smoothing))
                                          .item<double>();
  sums.add("loss", loss_sum);
  sums.add("acc", double(correct));
  if (options_.top5) {
    const int64_t k = std::min<int64_t>(5, logits.size(1));
    const auto top = std::get<1>(logits.topk(k, 1));
    sums.add("acc5", top.eq(batch.targets.unsqueeze(1)).any(1).sum().item<double>());
  }
  sums.count(n);
}

std::shared_ptr<const Task> classification_task(ClassificationOptions options) {
  return std::make_shared<ClassificationTask>(options);
}

void ClassificationTask::check(const Dataset& train, const Dataset& eval, const std::string& dir) const {
  if (eval.num_classes() > train.num_classes())
    throw DataError(dir + ": the test labels go up to " + std::to_string(eval.num_classes() - 1) +
                    " but the training set has only " + std::to_string(train.num_classes()) + " classes");
}

}  // namespace eshift
