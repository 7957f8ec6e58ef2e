#pragma once
// What one probe measured (probes.h takes the measurements): per layer and summarized over layers,
// as a metrics.jsonl line. No LibTorch.
#include <cstdint>
#include <string>
#include <vector>

#include "eshift/nn/family.h"

namespace eshift {

constexpr double kFloat16Max = 65504.0;

struct FilterStats {
  double min = 0, median = 0, max = 0;
};

struct LayerProbe {
  std::string name;
  WeightFamily family = WeightFamily::None;
  int64_t filters = 0, fan_in = 0;
  FilterStats norm, sigma, mean;
  double effective_lr = 0;     // median over filters
  double angular_update = 0;   // median over filters, radians, of the probed step
  double grad_norm = 0, grad_max_abs = 0, fp16_ratio = 0;
  double fp16_scaled_ratio = 0;  // grad_max_abs · loss_scale / 65504 (simulated_loss_scale.h)
  double frac_sigma_below_eps = 0;
};

struct ProbeRecord {
  int64_t step = 0;  // global step (counting from 1) of the probed update
  int epoch = 0;     // 1-based epoch in progress
  double lr = 0;
  std::vector<LayerProbe> layers;
  // summary over layers
  double sigma_min = 0, effective_lr_median = 0, angular_update_median = 0, grad_max_abs = 0, fp16_ratio = 0,
         frac_sigma_below_eps = 0;  // the last over all filters of all layers
  // The simulated float16 loss scale at this step (simulated_loss_scale.h): the scale held, max|g|
  // over every parameter's gradient × that scale / 65504 (≥ 1: the step would overflow; fp16_ratio
  // is over the probed conv weights only, without the scale), and the steps so far that would have.
  double loss_scale = 0, fp16_scaled_ratio = 0;
  int64_t fp16_overflow_steps = 0;
  std::string to_json() const;      // one metrics.jsonl line, with "kind": "probe"
  double median_sigma_over_layers() const;  // median over layers of each layer's median filter σ
};

}  // namespace eshift
