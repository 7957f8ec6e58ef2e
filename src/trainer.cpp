#include "eshift/trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "eshift/checkpoint.h"
#include "eshift/idx_reader.h"
#include "eshift/param_roles.h"
#include "eshift/placement.h"
#include "eshift/progress.h"

namespace eshift {

std::atomic<bool> g_stop_requested{false};

void TrainConfig::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  model.validate();
  schedule.validate();
  decay.validate();
  check(epochs >= 1, "--epochs must be >= 1");
  check(batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two examples)");
  check(eval_batch_size >= 1, "--eval-batch-size must be >= 1");
  check(train_subset >= 0 && test_subset >= 0, "--train-subset/--test-subset must be >= 0");
  check(std::isfinite(momentum) && momentum >= 0, "--momentum must be >= 0");
  check(dampening >= 0 && dampening <= 1, "--dampening must be in [0, 1]");
  check(!nesterov || (momentum > 0 && dampening == 0), "--nesterov needs --momentum > 0 and --dampening 0");
  check(crop_padding >= 0, "--crop-padding must be >= 0");
  check(!resume || !out_dir.empty(), "--resume needs --out DIR (the run directory to resume)");
  check(probe_every >= 0, "--probe-every must be >= 0");
}

std::string TrainConfig::to_json() const {
  nlohmann::json j;
  j["model"] = nlohmann::json::parse(model.to_json());
  j["data_dir"] = data_dir;
  j["train_subset"] = train_subset;
  j["test_subset"] = test_subset;
  j["epochs"] = epochs;
  j["batch_size"] = batch_size;
  j["lr"] = schedule.base_lr;
  j["schedule"] = schedule.milestones;
  j["gamma"] = schedule.gamma;
  j["cos"] = schedule.cosine;
  j["warmup"] = schedule.warmup_epochs;
  j["momentum"] = momentum;
  j["dampening"] = dampening;
  j["nesterov"] = nesterov;
  j["wd"] = decay.wd;
  j["wd_all"] = decay.wd_all;
  j["nowd_bn"] = decay.nowd_bn;
  j["nowd_fc"] = decay.nowd_fc;
  j["nowd_conv"] = decay.nowd_conv;
  j["el2"] = decay.el2;
  j["mineps"] = decay.mineps;
  j["lam"] = decay.lam;
  j["decoupled_wd"] = decay.decoupled;
  j["crop_padding"] = crop_padding;
  j["hflip"] = hflip;
  j["seed"] = seed;
  j["device"] = device;
  j["channels_last"] = channels_last;
  j["probe_every"] = probe_every;
  return j.dump();
}

torch::Device parse_device(const std::string& name) {
  std::unique_ptr<torch::Device> device;
  try {
    device = std::make_unique<torch::Device>(name);
  } catch (const std::exception&) {
    throw std::invalid_argument("unknown --device '" + name + "' (cpu, cuda or cuda:N)");
  }
  if (device->is_cuda() && !torch::cuda::is_available())
    throw std::invalid_argument("--device " + name + ": CUDA is not available in this LibTorch build or machine");
  if (!device->is_cpu() && !device->is_cuda()) throw std::invalid_argument("unsupported --device '" + name + "'");
  return *device;
}

std::pair<double, int64_t> train_step(ResNet& model, RegularizedSGD& optimizer, const torch::Tensor& images,
                                      const torch::Tensor& labels, const std::function<void()>& before_update) {
  auto logits = model->forward(images);
  auto loss = torch::nn::functional::cross_entropy(logits, labels);
  optimizer.zero_grad();
  loss.backward();
  if (before_update) before_update();
  optimizer.step();
  const int64_t correct = logits.argmax(1).eq(labels).sum().item<int64_t>();
  return {loss.item<double>(), correct};
}

EvalResult evaluate(ResNet& model, const ImageSet& set, const LoaderOptions& options, const Placement& placement) {
  const auto& device = placement.device;
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  BatchLoader loader(set, options, 0);
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  while (auto batch = loader.next()) {
    auto x = placement.input(batch->images), y = batch->labels.to(device);
    auto logits = model->forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    seen += y.size(0);
  }
  model->train(was_training);
  return {loss_sum / std::max<int64_t>(seen, 1), double(correct) / std::max<int64_t>(seen, 1)};
}

std::pair<double, double> conv_filter_sigma(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sigmas;
  for (const auto& p : describe_parameters(model))
    if (p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight)
      if (p.tensor.dim() == 4) sigmas.push_back(filter_std(p.tensor).to(torch::kCPU, torch::kFloat64));
  if (sigmas.empty()) return {NAN, NAN};
  auto all = torch::cat(sigmas);
  return {all.min().item<double>(), all.mean().item<double>()};
}


TrainResult train(const TrainConfig& config_in) {
  TrainConfig config = config_in;
  config.schedule.epochs = config.epochs;  // cosine decays over the whole run
  config.validate();
  const Placement placement{parse_device(config.device), config.channels_last};
  const auto& device = placement.device;

  // ---- data (every read error is a DataError naming the file)
  ImageSet train_set = read_mnist_dir(config.data_dir, "train");
  ImageSet test_set = read_mnist_dir(config.data_dir, "test");
  if (config.train_subset > 0) train_set = train_set.head(std::min(config.train_subset, train_set.size()));
  if (config.test_subset > 0) test_set = test_set.head(std::min(config.test_subset, test_set.size()));
  if (train_set.size() < config.batch_size)
    throw std::invalid_argument("the training set (" + std::to_string(train_set.size()) +
                                " examples) is smaller than --batch-size " + std::to_string(config.batch_size));
  config.model.in_channels = train_set.images.size(1);
  config.model.num_classes = std::max(train_set.num_classes, test_set.num_classes);
  auto [mean, std] = channel_stats(train_set);
  LoaderOptions train_opts;
  train_opts.batch_size = config.batch_size;
  train_opts.shuffle = true;
  train_opts.crop_padding = config.crop_padding;
  train_opts.hflip = config.hflip;
  train_opts.drop_last = true;  // as the reference: a partial last batch is skipped
  train_opts.mean = mean;
  train_opts.std = std;
  train_opts.seed = config.seed;
  LoaderOptions test_opts = train_opts;
  test_opts.batch_size = config.eval_batch_size;
  test_opts.shuffle = false;
  test_opts.crop_padding = 0;
  test_opts.hflip = false;
  test_opts.drop_last = false;

  // ---- model, decay policy, optimizer
  torch::manual_seed(config.seed);
  ResNet model(config.model);
  placement.place(*model);
  const auto params = describe_parameters(*model);
  DecayPolicy policy(config.decay);
  RegularizedSGD optimizer(policy.group(params), RegularizedSGDOptions(config.schedule.base_lr)
                                                     .momentum(config.momentum)
                                                     .dampening(config.dampening)
                                                     .nesterov(config.nesterov));

  int64_t numel = 0;
  for (const auto& p : params) numel += p.tensor.numel();
  std::cout << "model " << config.model.name << " (wnorm " << family_name(config.model.wnorm) << ", norm "
            << config.model.norm << ") " << numel << " parameters on " << device << ", "
            << torch::get_num_threads() << " threads\n"
            << "data " << config.data_dir << ": " << train_set.size() << " train / " << test_set.size()
            << " test images " << train_set.images.size(1) << "x" << train_set.images.size(2) << "x"
            << train_set.images.size(3) << ", " << config.model.num_classes << " classes\n"
            << "schedule " << config.schedule.describe() << ", momentum " << config.momentum
            << (config.nesterov ? " (nesterov)" : "") << ", batch " << config.batch_size << "\n"
            << "decay policy:\n"
            << policy.table(params) << std::flush;

  // ---- output directory, resume
  int start_epoch = 0;
  std::string checkpoint_path;
  std::unique_ptr<MetricsLog> log;
  if (!config.out_dir.empty()) {
    checkpoint_path = config.out_dir + "/checkpoint.pt";
    if (config.resume) {
      auto info = load_checkpoint(checkpoint_path, *model, &optimizer, config.model, device);
      start_epoch = static_cast<int>(info.epoch);
      std::cout << "resumed from " << checkpoint_path << " after epoch " << start_epoch << "\n";
    } else if (std::filesystem::exists(checkpoint_path)) {
      throw std::invalid_argument(config.out_dir + " already holds a run (checkpoint.pt): use --resume to "
                                  "continue it or choose another --out");
    }
    std::filesystem::create_directories(config.out_dir);
    log = std::make_unique<MetricsLog>(config.out_dir, config.resume ? start_epoch : -1);
    write_text_atomic(config.out_dir + "/config.json", config.to_json() + "\n");
  }
  Probe probe(params, config.decay.mineps);

  // ---- epochs
  TrainResult result;
  for (int epoch = start_epoch; epoch < config.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = config.schedule.lr_at(epoch);
    optimizer.set_lr(lr);
    model->train();
    BatchLoader loader(train_set, train_opts, epoch);
    ProgressBar bar(config.label + " " + std::to_string(epoch + 1) + "/" + std::to_string(config.epochs),
                    loader.num_batches());
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    while (auto batch = loader.next()) {
      const int64_t global_step = int64_t(epoch) * loader.num_batches() + step + 1;
      const bool probing = config.probe_every > 0 && global_step % config.probe_every == 0;
      auto [loss, right] = train_step(model, optimizer, placement.input(batch->images), batch->labels.to(device),
                                      probing ? std::function<void()>([&] { probe.before_step(); }) : nullptr);
      if (probing) {
        result.probes.push_back(probe.after_step(global_step, epoch + 1, lr));
        if (log) log->probe(result.probes.back());
      }
      if (!std::isfinite(loss)) {
        result.diverged = true;
        result.stop_message = "training diverged: loss is " + std::to_string(loss) + " at epoch " +
                              std::to_string(epoch + 1) + " step " + std::to_string(step + 1) +
                              " (last good checkpoint: epoch " + std::to_string(epoch) + ")";
        break;
      }
      const int64_t b = batch->labels.size(0);
      loss_sum += loss * b;
      correct += right;
      seen += b;
      bar.update(++step, loss_sum / seen, double(correct) / seen, seen);
      if (g_stop_requested) break;
    }
    if (result.diverged) {
      bar.finish(config.label + ": " + result.stop_message);
      break;
    }
    if (g_stop_requested) {
      result.interrupted = true;
      result.stop_message = "interrupted in epoch " + std::to_string(epoch + 1) + "; the last checkpoint holds epoch " +
                            std::to_string(epoch);
      bar.finish(result.stop_message);
      break;
    }
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.lr = lr;
    rec.step = int64_t(epoch + 1) * loader.num_batches();
    rec.train_loss = loss_sum / seen;
    rec.train_acc = double(correct) / seen;
    auto ev = evaluate(model, test_set, test_opts, placement);
    rec.test_loss = ev.loss;
    rec.test_acc = ev.accuracy;
    std::tie(rec.sigma_min, rec.sigma_mean) = conv_filter_sigma(*model);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char summary[256];
    std::snprintf(summary, sizeof summary,
                  "%s epoch %d/%d: lr %.4g train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | "
                  "σ min %.3g mean %.3g | %.1fs",
                  config.label.c_str(), rec.epoch, config.epochs, lr, rec.train_loss, 100 * rec.train_acc,
                  rec.test_loss, 100 * rec.test_acc, rec.sigma_min, rec.sigma_mean, rec.seconds);
    bar.finish(summary);
    result.history.push_back(rec);
    if (log) {
      // checkpoint first, then the metrics line: a crash between the two leaves a checkpoint ahead of
      // metrics.jsonl, never metrics claiming an epoch the checkpoint lacks
      save_checkpoint(checkpoint_path, *model, &optimizer,
                      {config.model, rec.epoch, config.to_json(), train_opts.mean, train_opts.std});
      log->epoch(rec);
    }
  }
  return result;
}

}  // namespace eshift
