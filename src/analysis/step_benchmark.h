#pragma once
// Times training steps (forward, backward, regularized SGD step) of a model on random data: a
// classifier on random images and labels, a detector on random images (already at its input size)
// with six random boxes each, their rectangles as masks (step_benchmark.cpp: random_detection_batch).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eshift/models/model_spec.h"

namespace eshift {

struct BenchConfig {
  ModelSpec model;
  int64_t batch_size = 128;
  int64_t height = 32, width = 32;   // input channels come from model.in_channels
  std::string reg = "el2";           // none | l2 | el2 (the decay on conv weights)
  double lam = 1e-4, eps = 1e-3, wd = 1e-4;
  int steps = 20, warmup = 5;        // warm-up steps are run and not timed
  std::string device = "cpu";
  std::string amp = "off";           // mixed precision: off | fp16 | bf16
  bool channels_last = true;         // NHWC parameters and input
  uint64_t seed = 0;
  bool fused_batch_norm_act = true;  // batch_norm_act.h's fused kernels (false: LibTorch's ops)
  bool fused_weight_standardization = true;  // fused_weight_standardization.h (false: LibTorch's ops)
  bool fused_eps_shift = true;  // fused_eps_shift.h (false: LibTorch's ops)
  bool fused_sgd_step = true;  // optim/fused_sgd_step.h (false: LibTorch's ops)
  bool profile = false;              // record LibTorch's per-operator times during the timed steps
  bool count_flops = false;          // count the model's conv FLOPs (one more forward, after the timing; classifiers)
  int probe_every = 0;               // run the trainer's probes around every N-th step (0: never), timed

  void validate() const;             // throws std::invalid_argument
};

// One operator's share of the timed steps (LibTorch profiler, self time: its children excluded).
struct OpTime {
  std::string name;
  double self_ms_per_step = 0;
  double calls_per_step = 0;
};

struct BenchResult {
  std::vector<double> step_seconds;  // timed steps only
  double median_step_seconds = 0;
  double images_per_second = 0;      // batch / median step time
  double conv_flops_per_step = 0;    // count_flops: 3 × forward conv FLOPs × batch (forward, input and weight gradients)
  std::vector<OpTime> op_times;      // profile only: sorted by self time, largest first
  double peak_device_mib = -1;       // CUDA: peak memory allocated by LibTorch's caching allocator (-1: CPU)
  std::vector<std::pair<std::string, double>> policy_stats;  // the execution policy's counters (loss scale, skips)
  double conv_gflops_per_second() const { return conv_flops_per_step / median_step_seconds / 1e9; }
};

// float32 matrix-product speed of this machine through LibTorch (torch::mm of n×n), GFLOP/s, best of `reps`.
double measure_sgemm_gflops(int64_t n = 2048, int reps = 5);

// float32 speed of a 3×3 convolution forward in channels-last (batch 32, 128 → 128 channels, 32×32,
// run by oneDNN, the library that runs eshift's convolutions), GFLOP/s, best of `reps`. On CPUs newer than
// the BLAS LibTorch links (e.g. AVX-512 ones that OpenBLAS drives with AVX2 kernels) this, not sgemm,
// is the practical ceiling of the training step's convolutions.
double measure_onednn_conv_gflops(int reps = 5);

// Peak resident set size of this process so far, MiB.
double peak_rss_mib();

BenchResult run_step_benchmark(const BenchConfig& config);

}  // namespace eshift
