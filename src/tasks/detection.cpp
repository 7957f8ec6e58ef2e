#include "eshift/tasks/detection.h"

#include <algorithm>
#include <stdexcept>

#include "eshift/core/errors.h"
#include "eshift/data/registry.h"
#include "eshift/tasks/coco_evaluator.h"

namespace eshift {

namespace {
// COCO AP of each type, as the task's evaluation metrics.
class CocoApEvaluator : public TaskEvaluator {
 public:
  CocoApEvaluator(std::shared_ptr<const CocoDataset> dataset, std::vector<CocoIouType> types)
      : coco_(std::move(dataset), types), types_(std::move(types)) {}

  void add(const ModelOutput& output, const Batch& batch) override {
    if (output.detections.size() != size_t(batch.size()))
      throw std::runtime_error("the detector gave detections for " + std::to_string(output.detections.size()) +
                               " images of a batch of " + std::to_string(batch.size()) +
                               " (in eval mode a detector gives one ImageDetections per image)");
    for (const auto& d : output.detections) coco_.add(d);
  }
  std::string to_bytes() const override { return coco_.to_json(); }
  void merge(const std::string& bytes) override { coco_.merge_json(bytes); }
  Metrics finalize() const override {
    static const char* names[] = {"AP", "AP50", "AP75", "APs", "APm", "APl"};
    static const char* titles[] = {"AP", "AP@0.5", "AP@0.75", "AP_small", "AP_medium", "AP_large"};
    const auto stats = coco_.finalize();
    Metrics m;
    for (auto type : types_) {
      const std::string prefix = to_string(type);
      for (int k = 0; k < 6; ++k)
        m.add({prefix + "_" + names[k], prefix + "/" + titles[k], false}, stats.at(type)[size_t(k)]);
    }
    return m;
  }
  std::vector<std::string> write_results(const std::string& prefix) const override {
    std::vector<std::string> paths;
    for (auto type : types_) {
      paths.push_back(prefix + "." + to_string(type) + ".json");
      coco_.write_results(type, paths.back());
    }
    return paths;
  }

 private:
  CocoEvaluator coco_;
  std::vector<CocoIouType> types_;
};
}  // namespace

DetectionTask::DetectionTask(DetectionOptions options) : options_(options) {
  if (options_.min_size < 1 || options_.max_size < 1)
    throw std::invalid_argument("--min-size and --max-size must be at least 1");
  metrics_ = {{"loss", "loss", false}};
  for (const char* name : {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"})
    metrics_.push_back({name, name, false});
}

torch::Tensor DetectionTask::loss(const ModelOutput& output, const Batch& batch) const {
  if (output.losses.empty())
    throw std::runtime_error("the detection task needs the model's losses in training (a detector's output), "
                             "and the model gave none");
  torch::Tensor total;
  for (const auto& [name, value] : output.losses) total = total.defined() ? total + value : value;
  return total;
}

void DetectionTask::measure(const ModelOutput& output, const Batch& batch, std::optional<double> mean_loss,
                            MetricSums& sums) const {
  const double n = double(batch.size());
  double total = 0;
  for (const auto& [name, value] : output.losses) {
    const bool known = std::any_of(metrics_.begin(), metrics_.end(), [&](const MetricInfo& m) { return m.key == name; });
    if (!known || name == "loss")
      throw std::runtime_error("the detector gave a loss named '" + name + "', which the detection task does not know");
    const double v = value.item<double>();
    sums.add(name, v * n);
    total += v;
  }
  sums.add("loss", (mean_loss ? *mean_loss : total) * n);
  sums.count(batch.size());
}

TaskData DetectionTask::open_data(const DataRequest& request) const {
  if (find_dataset(request.name).task != "detect")
    throw std::invalid_argument("--task detect reads detection data (--data coco), not --data " + request.name);
  std::shared_ptr<const CocoDataset> train = std::make_shared<CocoDataset>(request.dir, "train", request.options);
  std::shared_ptr<const CocoDataset> eval = std::make_shared<CocoDataset>(request.dir, "val", request.options);
  take_subset(train, request.train_subset, "--train-subset", "images of " + request.dir + " (" + train->summary() + ")");
  take_subset(eval, request.test_subset, "--test-subset", "images of " + request.dir + " (" + eval->summary() + ")");
  if (eval->annotations().categories.size() != train->annotations().categories.size())
    throw DataError(request.dir + ": the val annotations have " + std::to_string(eval->annotations().categories.size()) +
                    " categories but the train annotations " +
                    std::to_string(train->annotations().categories.size()));
  DetectionTransformOptions transform;
  transform.min_size = options_.min_size;
  transform.max_size = options_.max_size;
  TaskData data;
  data.normalization = {transform.mean, transform.std};
  data.in_channels = 3;
  data.num_classes = train->num_classes();
  data.audit_shape = {3, 64, 64};
  data.eval = std::make_shared<CocoSplit>(eval, transform);
  transform.hflip = request.augment.hflip;  // --no-flip turns it off
  data.train = std::make_shared<CocoSplit>(train, transform);
  return data;
}

void DetectionTask::check(const Model& model) const {
  if (!model.is_detector())
    throw std::invalid_argument("--task detect trains a detector, and --model " + model.spec().name +
                                " is a classifier");
}

std::unique_ptr<TaskEvaluator> DetectionTask::evaluator(const DataSplit& eval) const {
  const auto* coco = dynamic_cast<const CocoSplit*>(&eval);
  if (!coco) throw std::invalid_argument("the detection task evaluates COCO data (--data coco)");
  std::vector<CocoIouType> types{CocoIouType::Bbox};
  if (coco->dataset()->has_masks()) types.push_back(CocoIouType::Segm);
  return std::make_unique<CocoApEvaluator>(coco->dataset(), types);
}

}  // namespace eshift
