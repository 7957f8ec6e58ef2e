// eshift eval: a checkpoint's metrics on the test split of its dataset: a classifier's loss and
// top-1/top-5; a detector's COCO box and mask AP on the val split, its detections written as COCO
// results files with --results.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "command.h"
#include "eshift/data/registry.h"
#include "eshift/models/registry.h"
#include "eshift/tasks/classification.h"
#include "eshift/tasks/detection.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/step.h"
#include "flags.h"

namespace eshift::cli {

namespace {
// The dataset a checkpoint was trained on (checkpoints from before datasets had names: the default),
// and the options it was read with.
std::string checkpoint_dataset(const CheckpointInfo& info, DataOptions& options) {
  const auto config = nlohmann::json::parse(info.config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return kDefaultDataset;
  options.cifar100_coarse = config.value("cifar100_coarse", false);
  options.image_size = config.value("image_size", 224);
  options.max_image_pixels = config.value("max_image_pixels", options.max_image_pixels);
  return config.contains("data") ? config["data"].get<std::string>() : kDefaultDataset;
}

class EvalCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("--checkpoint", checkpoint_, "checkpoint.pt written by eshift train")->required();
    data_.add(app);
    app.add_option("--test-subset", test_subset_, "first N test images (0 = all)");
    app.add_option("--workers", workers_, "batches prepared at once (JPEG decoding threads)")->capture_default_str();
    app.add_option("--results", results_, "a detector: write its detections as COCO results files PREFIX.bbox.json "
                   "and PREFIX.segm.json (what eshift detect-eval and pycocotools read)");
    app.add_option("--min-size", min_size_, "a detector: resize so that the shorter side is this (default: the "
                   "checkpoint's run's, else 800)");
    app.add_option("--max-size", max_size_, "a detector: … unless the longer exceeds this (default: the run's, else 1333)");
    app.add_option("--batch-size", batch_size_, "a detector: images a batch")->capture_default_str();
    add_device_flag(app, device_);
    threads_.add(app);
  }

  int run() override {
    threads_.apply();
    const auto device = parse_device(device_);
    const auto info = read_checkpoint_info(checkpoint_);
    auto model = build_model(info.spec);
    model->to(device);
    load_checkpoint(checkpoint_, *model, nullptr, info.spec, device);
    DataOptions options;
    std::string name = checkpoint_dataset(info, options), dir;
    data_.apply(name, dir);
    if (model->is_detector()) return evaluate_detector(*model, info, name, dir, options, device);
    if (!results_.empty()) throw std::invalid_argument("--results: only a detector's checkpoint writes results files");
    auto test_set = open_dataset(name, dir, "test", options);
    if (test_subset_ > 0) test_set = test_set->head(std::min(test_subset_, test_set->size()));
    if (test_set->image_shape().channels != info.spec.in_channels)
      throw std::invalid_argument((dir.empty() ? find_dataset(name).default_dir : dir) + ": images have " +
                                  std::to_string(test_set->image_shape().channels) +
                                  " channels, the checkpoint's model expects " + std::to_string(info.spec.in_channels));
    const ClassificationTask task({0, /*top5=*/true});
    const ImageSplit split(test_set, test_set->eval_transform({info.input_mean, info.input_std}));
    const auto m = evaluate_split(*model, task, split,
                                  ExecutionPolicy(Placement{device, false, model->parameters().front().scalar_type()}),  // a --dtype float64 run's weights stay float64
                                  500, 0, 1, workers_)
                       ->finalize();
    std::printf("checkpoint %s (epoch %lld, %s)\n", checkpoint_.c_str(), (long long)info.epoch,
                info.spec.to_json().c_str());
    std::printf("test images %lld: loss %.4f top-1 %.2f%% top-5 %.2f%%\n", (long long)test_set->size(), m.at("loss"),
                100 * m.at("acc"), 100 * m.at("acc5"));
    return 0;
  }

 private:
  int evaluate_detector(Model& model, const CheckpointInfo& info, const std::string& name, const std::string& dir,
                        const DataOptions& options, const torch::Device& device) {
    const auto config = nlohmann::json::parse(info.config_json, nullptr, /*allow_exceptions=*/false);
    DetectionOptions sizes;
    if (config.is_object()) {
      sizes.min_size = config.value("min_size", sizes.min_size);
      sizes.max_size = config.value("max_size", sizes.max_size);
    }
    if (min_size_ > 0) sizes.min_size = min_size_;
    if (max_size_ > 0) sizes.max_size = max_size_;
    if (batch_size_ < 1) throw std::invalid_argument("--batch-size must be >= 1");
    const DetectionTask task(sizes);
    DataRequest request;
    request.name = name;
    request.dir = dir;
    request.options = options;
    request.test_subset = test_subset_;
    const auto data = task.open_data(request);
    const auto evaluator = evaluate_split(model, task, *data.eval, ExecutionPolicy(Placement{device, false, torch::kFloat}),
                                          batch_size_, 0, 1, workers_);
    const auto m = evaluator->finalize();
    std::printf("checkpoint %s (epoch %lld, %s)\n", checkpoint_.c_str(), (long long)info.epoch, info.spec.to_json().c_str());
    std::printf("%s: %lld images at min size %lld, max size %lld\n", data.eval->describe().c_str(),
                (long long)data.eval->size(), (long long)sizes.min_size, (long long)sizes.max_size);
    for (const auto& v : m.values()) std::printf("  %-10s %7.4f\n", v.info.key.c_str(), v.value);
    if (!results_.empty())
      for (const auto& path : evaluator->write_results(results_)) std::printf("results written to %s\n", path.c_str());
    return 0;
  }

  std::string checkpoint_, device_ = "cpu", results_;
  int64_t min_size_ = 0, max_size_ = 0, batch_size_ = 2;
  int64_t test_subset_ = 0;
  int workers_ = 2;
  DataFlags data_;
  ThreadFlags threads_;
};
}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace eshift::cli
