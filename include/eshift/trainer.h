#pragma once
// The training loop: data → model → loss → backward → regularized SGD step, evaluated every epoch,
// with progress output, metrics.jsonl, config.json and an atomic checkpoint per epoch.
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eshift/batch_loader.h"
#include "eshift/decay_policy.h"
#include "eshift/lr_schedule.h"
#include "eshift/metrics_log.h"
#include "eshift/placement.h"
#include "eshift/regularized_sgd.h"
#include "eshift/resnet.h"

namespace eshift {

constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

struct TrainConfig {
  ModelSpec model;                       // in_channels / num_classes are taken from the data
  std::string data_dir = kDefaultDataDir;
  int64_t train_subset = 0;              // first N training examples (0 = all)
  int64_t test_subset = 0;               // first N test examples (0 = all)
  int epochs = 10;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 500;
  LrSchedule schedule;
  double momentum = 0.9;
  double dampening = 0;
  bool nesterov = false;
  DecayFlags decay;
  int crop_padding = 2;                  // random-crop padding (pixels); 0 disables
  bool hflip = true;                     // random horizontal flips
  uint64_t seed = 0;
  std::string device = "cpu";
  bool channels_last = true;             // NHWC parameters and batches (faster convs/BN on CPU)
  std::string out_dir;                   // empty: write nothing
  bool resume = false;                   // continue from out_dir/checkpoint.pt
  std::string label = "train";           // prefix of progress lines
  int probe_every = 50;                  // probe weights/gradients every k steps (0 = never)

  void validate() const;                 // throws std::invalid_argument on impossible values
  std::string to_json() const;
};

struct TrainResult {
  std::vector<EpochRecord> history;  // epochs run by this call (after a resume: the rest)
  std::vector<ProbeRecord> probes;   // probes taken by this call
  bool interrupted = false;          // stopped by SIGINT/SIGTERM
  bool diverged = false;             // stopped by a non-finite loss
  std::string stop_message;          // why it stopped early
};

// Set by SIGINT/SIGTERM handlers: the loop stops after the current step (checkpoints stay at the
// last completed epoch).
extern std::atomic<bool> g_stop_requested;

torch::Device parse_device(const std::string& name);  // "cpu", "cuda", "cuda:1"; throws if unavailable

TrainResult train(const TrainConfig& config);

struct EvalResult { double loss = 0, accuracy = 0; };
EvalResult evaluate(ResNet& model, const ImageSet& set, const LoaderOptions& options, const Placement& placement);

// One training step; returns (mean loss, correct count) of the batch. `before_update`, when given,
// runs after backward and before the optimizer step (where probes read gradients).
std::pair<double, int64_t> train_step(ResNet& model, RegularizedSGD& optimizer, const torch::Tensor& images,
                                      const torch::Tensor& labels,
                                      const std::function<void()>& before_update = nullptr);

// min and mean of the per-filter (unbiased) σ over every normalized or plain conv weight.
std::pair<double, double> conv_filter_sigma(torch::nn::Module& model);

}  // namespace eshift
