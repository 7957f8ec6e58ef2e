#pragma once
// Times training steps (forward, backward, regularized SGD step) of a model on random data.
#include <cstdint>
#include <string>
#include <vector>

#include "eshift/resnet.h"

namespace eshift {

struct BenchConfig {
  ModelSpec model;
  int64_t batch_size = 128;
  int64_t height = 32, width = 32;   // input channels come from model.in_channels
  std::string reg = "el2";           // none | l2 | el2 (the decay on conv weights)
  double lam = 1e-4, eps = 1e-3, wd = 1e-4;
  int steps = 20, warmup = 5;        // warm-up steps are run and not timed
  std::string device = "cpu";
  bool channels_last = true;         // NHWC parameters and input
  uint64_t seed = 0;

  void validate() const;             // throws std::invalid_argument
};

struct BenchResult {
  std::vector<double> step_seconds;  // timed steps only
  double median_step_seconds = 0;
  double images_per_second = 0;      // batch / median step time
};

BenchResult run_step_benchmark(const BenchConfig& config);

}  // namespace eshift
