// eshift eval: a checkpoint's metrics on the test split of its dataset.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "command.h"
#include "eshift/data/registry.h"
#include "eshift/models/registry.h"
#include "eshift/tasks/classification.h"
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
  std::string checkpoint_, device_ = "cpu";
  int64_t test_subset_ = 0;
  int workers_ = 2;
  DataFlags data_;
  ThreadFlags threads_;
};
}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace eshift::cli
