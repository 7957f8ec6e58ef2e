#include "eshift/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <tuple>

#include "eshift/core/atomic_file.h"
#include "eshift/data/batch_loader.h"
#include "eshift/data/registry.h"
#include "eshift/models/registry.h"
#include "eshift/observe/progress.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/mixed_precision.h"

namespace eshift {

std::atomic<bool> g_stop_requested{false};

namespace {
// The configuration as the run uses it: cosine decays over the whole run; validated.
TrainConfig prepared(TrainConfig config) {
  config.schedule.epochs = config.epochs;
  config.validate();
  return config;
}

std::unique_ptr<ExecutionPolicy> policy_of(const TrainConfig& config) {
  return make_execution_policy(config.amp, Placement{parse_device(config.device), config.channels_last});
}
}  // namespace

// ---------------------------------------------------------------- set up
Trainer::Trainer(TrainConfig config, std::shared_ptr<const Task> task, std::unique_ptr<ExecutionPolicy> policy)
    : config_(prepared(std::move(config))), task_(std::move(task)),
      policy_(policy ? std::move(policy) : policy_of(config_)) {
  set_up_data();
  set_up_model();
  print_header();
  set_up_output();
  probe_ = std::make_unique<Probe>(params_, config_.decay.mineps);
}

void Trainer::set_up_data() {
  // every read error is a DataError naming the file
  const std::string dir = config_.resolved_data_dir();
  train_set_ = open_dataset(config_.data, dir, "train");
  eval_set_ = open_dataset(config_.data, dir, "test");
  if (config_.train_subset > 0) train_set_ = train_set_->head(std::min(config_.train_subset, train_set_->size()));
  if (config_.test_subset > 0) eval_set_ = eval_set_->head(std::min(config_.test_subset, eval_set_->size()));
  if (train_set_->size() < config_.batch_size)
    throw std::invalid_argument("the training set (" + std::to_string(train_set_->size()) +
                                " examples) is smaller than --batch-size " + std::to_string(config_.batch_size));
  config_.model.in_channels = train_set_->image_shape().channels;
  config_.model.num_classes = std::max(train_set_->num_classes(), eval_set_->num_classes());
  normalization_ = train_set_->channel_stats();
  train_transform_ = train_set_->train_transform({config_.crop_padding, config_.hflip}, normalization_);
  eval_transform_ = eval_set_->eval_transform(normalization_);
}

void Trainer::set_up_model() {
  torch::manual_seed(config_.seed);
  model_ = build_model(config_.model);
  policy_->placement().place(*model_);
  params_ = describe_parameters(*model_);
  optimizer_ = std::make_unique<RegularizedSGD>(DecayPolicy(config_.decay).group(params_),
                                                RegularizedSGDOptions(config_.schedule.base_lr)
                                                    .momentum(config_.momentum)
                                                    .dampening(config_.dampening)
                                                    .nesterov(config_.nesterov));
}

void Trainer::print_header() const {
  int64_t numel = 0;
  for (const auto& p : params_) numel += p.tensor.numel();
  const auto& m = config_.model;
  std::cout << "model " << m.name << " (wnorm " << family_name(m.wnorm) << ", norm " << m.norm << ") " << numel
            << " parameters on " << policy_->placement().device << ", " << torch::get_num_threads() << " threads"
            << (config_.amp == "off" ? "" : ", " + policy_->describe()) << "\n"
            << "data " << config_.resolved_data_dir() << ": " << train_set_->size() << " train / "
            << eval_set_->size() << " test images " << train_set_->image_shape().str() << ", " << m.num_classes
            << " classes\n"
            << "schedule " << config_.schedule.describe() << ", momentum " << config_.momentum
            << (config_.nesterov ? " (nesterov)" : "") << ", batch " << config_.batch_size << "\n"
            << "decay policy:\n"
            << DecayPolicy(config_.decay).table(params_) << std::flush;
}

void Trainer::set_up_output() {
  if (config_.out_dir.empty()) return;
  checkpoint_path_ = config_.out_dir + "/checkpoint.pt";
  if (config_.resume) {
    auto info = load_checkpoint(checkpoint_path_, *model_, optimizer_.get(), config_.model, policy_->placement().device,
                                policy_.get());
    start_epoch_ = static_cast<int>(info.epoch);
    std::cout << "resumed from " << checkpoint_path_ << " after epoch " << start_epoch_ << "\n";
  } else if (std::filesystem::exists(checkpoint_path_)) {
    throw std::invalid_argument(config_.out_dir + " already holds a run (checkpoint.pt): use --resume to "
                                "continue it or choose another --out");
  }
  std::filesystem::create_directories(config_.out_dir);
  log_ = std::make_unique<MetricsLog>(config_.out_dir, config_.resume ? start_epoch_ : -1);
  write_text_atomic(config_.out_dir + "/config.json", config_.to_json() + "\n");
}

// ---------------------------------------------------------------- run
TrainResult Trainer::run() {
  TrainResult result;
  for (int epoch = start_epoch_; epoch < config_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord record;
    record.epoch = epoch + 1;
    record.lr = config_.schedule.lr_at(epoch);
    if (!train_epoch(epoch, record.lr, record, result)) break;
    record.test = evaluate();
    std::tie(record.sigma_min, record.sigma_mean) = conv_filter_sigma(params_);
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end_epoch(record, result);
  }
  return result;
}

bool Trainer::train_epoch(int epoch, double lr, EpochRecord& record, TrainResult& result) {
  optimizer_->set_lr(lr);
  model_->train();
  LoaderOptions options;
  options.batch_size = config_.batch_size;
  options.drop_last = true;  // as the reference: a partial last batch is skipped
  options.seed = config_.seed;
  BatchLoader loader(train_set_, *train_transform_, options, epoch);
  bar_ = std::make_unique<ProgressBar>(
      config_.label + " " + std::to_string(epoch + 1) + "/" + std::to_string(config_.epochs), loader.num_batches());
  MetricSums sums(task_->metrics());
  int64_t step = 0;
  while (auto batch = loader.next()) {
    const int64_t global_step = int64_t(epoch) * loader.num_batches() + step + 1;
    const bool probing = config_.probe_every > 0 && global_step % config_.probe_every == 0;
    const auto placed = policy_->place(*batch);
    const auto out = train_step(
        *model_, *task_, *optimizer_, *policy_, placed, [&] { for (auto& hook : gradient_hooks_) hook(); },
        [&] { if (probing) probe_->before_step(); });  // the gradients the step will use
    task_->measure(out.output, placed, out.loss, sums);
    if (probing) {
      result.probes.push_back(probe_->after_step(global_step, epoch + 1, lr));
      if (log_) log_->probe(result.probes.back());
    }
    if (!std::isfinite(out.loss)) {
      result.diverged = true;
      result.stop_message = "training diverged: loss is " + std::to_string(out.loss) + " at epoch " +
                            std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
                            " (last good checkpoint: epoch " + std::to_string(epoch) + ")";
      bar_->finish(config_.label + ": " + result.stop_message);
      return false;
    }
    bar_->update(++step, sums.means(), sums.examples());
    if (g_stop_requested) {
      result.interrupted = true;
      result.stop_message = "interrupted in epoch " + std::to_string(epoch + 1) +
                            "; the last checkpoint holds epoch " + std::to_string(epoch);
      bar_->finish(result.stop_message);
      return false;
    }
  }
  record.step = int64_t(epoch + 1) * loader.num_batches();
  record.train = sums.means();
  record.extras = policy_->stats();
  return true;
}

Metrics Trainer::evaluate() {
  return eshift::evaluate(*model_, *task_, eval_set_, *eval_transform_, *policy_, config_.eval_batch_size);
}

void Trainer::end_epoch(EpochRecord& record, TrainResult& result) {
  char summary[512];
  std::snprintf(summary, sizeof summary, "%s epoch %d/%d: lr %.4g train %s | test %s | σ min %.3g mean %.3g | %.1fs",
                config_.label.c_str(), record.epoch, config_.epochs, record.lr, record.train.format().c_str(),
                record.test.format().c_str(), record.sigma_min, record.sigma_mean, record.seconds);
  bar_->finish(summary);  // the epoch's progress line ends with its summary
  result.history.push_back(record);
  if (log_) {
    // checkpoint first, then the metrics line: a crash between the two leaves a checkpoint ahead of
    // metrics.jsonl, never metrics claiming an epoch the checkpoint lacks
    save_checkpoint(checkpoint_path_, *model_, optimizer_.get(),
                    {config_.model, record.epoch, config_.to_json(), normalization_.mean, normalization_.std},
                    policy_.get());
    log_->epoch(record);
  }
}

TrainResult train(const TrainConfig& config, std::shared_ptr<const Task> task) {
  return Trainer(config, std::move(task)).run();
}

}  // namespace eshift
