#include "eshift/tasks/classification.h"

#include "eshift/core/errors.h"
#include "eshift/data/registry.h"

#include <algorithm>

namespace eshift {

namespace F = torch::nn::functional;

ClassificationTask::ClassificationTask(ClassificationOptions options) : options_(options) {
  TORCH_CHECK(options_.label_smoothing >= 0 && options_.label_smoothing < 1, "label smoothing must be in [0, 1)");
  metrics_ = {{"loss", "loss", false}, {"acc", "accuracy", true}};
  if (options_.top5) metrics_.push_back({"acc5", "top5_accuracy", true});
}

torch::Tensor ClassificationTask::loss(const ModelOutput& output, const Batch& batch) const {
  const auto& logits = output.logits;
  return F::cross_entropy(logits, batch.targets, F::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing));
}

void ClassificationTask::measure(const ModelOutput& output, const Batch& batch, std::optional<double> mean_loss,
                                 MetricSums& sums) const {
  const auto& logits = output.logits;
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

TaskData ClassificationTask::open_data(const DataRequest& request) const {
  // every read error is a DataError naming the file
  const std::string& dir = request.dir;
  auto train = open_dataset(request.name, dir, "train", request.options);
  auto eval = open_dataset(request.name, dir, "test", request.options);
  take_subset(train, request.train_subset, "--train-subset", "examples in " + dir);
  take_subset(eval, request.test_subset, "--test-subset", "examples in " + dir);
  const auto train_shape = train->image_shape(), eval_shape = eval->image_shape();
  if (train_shape.str() != eval_shape.str())
    throw DataError(dir + ": the test images are " + eval_shape.str() + " but the training images " + train_shape.str());
  if (eval->num_classes() > train->num_classes())
    throw DataError(dir + ": the test labels go up to " + std::to_string(eval->num_classes() - 1) +
                    " but the training set has only " + std::to_string(train->num_classes()) + " classes");
  const int64_t side = std::min(train_shape.height, train_shape.width);
  if (request.augment.crop_padding >= side)
    throw std::invalid_argument("--crop-padding " + std::to_string(request.augment.crop_padding) +
                                " must be smaller than the images (" + train_shape.str() + ")");
  TaskData data;
  data.normalization = train->channel_stats();
  data.in_channels = train_shape.channels;
  data.num_classes = train->num_classes();
  data.audit_shape = train_shape;
  auto train_transform = train->train_transform(request.augment, data.normalization);
  auto eval_transform = eval->eval_transform(data.normalization);
  data.train = std::make_shared<ImageSplit>(std::move(train), std::move(train_transform));
  data.eval = std::make_shared<ImageSplit>(std::move(eval), std::move(eval_transform));
  return data;
}

void ClassificationTask::check(const Model& model) const {
  if (model.is_detector())
    throw std::invalid_argument("--model " + model.spec().name + " is a detector: train it with --task detect");
}

}  // namespace eshift
