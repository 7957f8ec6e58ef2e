#pragma once
// Probes: what decay does to scale-invariant weights, measured on the live run.
//
// For every per-filter scale-invariant weight (normalized weights, and plain convs, which BN/GN
// make scale-invariant) a probe around one optimizer step records, per output filter:
//   ‖w‖, σ (unbiased) and μ                        → min / median / max over filters
//   effective learning rate                         → median over filters
//       WS-type (WS, and CWN which is centered):  η / ((n−1)·σ²)  =  η/‖w − μ‖²
//       WN-type (WN, plain conv):                 η / ‖w‖²
//   angular update of the step                      → median over filters, radians: the angle
//       between the filter's direction before and after the step (centered for WS/CWN), computed as
//       2·asin(‖â − b̂‖/2), accurate for tiny angles
//   gradient of the loss (before the regularizer): ‖g‖₂ of the tensor, max |g|, and max |g| / 65504
//       (the float16 maximum: ≥ 1 means a float16 gradient would overflow)
//   fraction of filters with σ < ε
// The simulated float16 loss scale (simulated_loss_scale.h) adds, from every step's max_abs_gradient:
//   the scale held, max|g| · scale / 65504 (per layer, and over every parameter), would-overflow steps
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/param_roles.h"
#include "eshift/observe/collapse_watch.h"
#include "eshift/observe/probe_record.h"

namespace eshift {

// Per-filter statistics of one weight (exposed for tests).
FilterStats filter_stats(const torch::Tensor& per_filter_values);

class Probe {
 public:
  // Watches the per-filter scale-invariant weights among `params`; `eps` is the σ threshold.
  Probe(const std::vector<ParamInfo>& params, double eps);

  // Call after backward, before optimizer.step(): snapshots weights and reads the loss gradients.
  void before_step();
  // Call after optimizer.step(): measures everything, for the step just taken at rate `lr`.
  ProbeRecord after_step(int64_t step, int epoch, double lr);

  size_t num_layers() const { return params_.size(); }
  void set_eps(double eps) { eps_ = eps; }  // the σ threshold (--mineps auto, once chosen)

 private:
  std::vector<ParamInfo> params_;
  double eps_;
  std::vector<torch::Tensor> before_;  // float64 [out, n] copies
  std::vector<double> grad_norm_, grad_max_;
};

// Direction used by the angular update: centered for WS/CWN, raw for WN/plain. [out, n], float64.
torch::Tensor filter_directions(const torch::Tensor& weight, WeightFamily family);
// Per-filter angle between two sets of directions, radians.
torch::Tensor filter_angles(const torch::Tensor& a, const torch::Tensor& b);
// Per-filter effective learning rate of `weight` for rate lr (see the header comment).
torch::Tensor effective_lr(const torch::Tensor& weight, WeightFamily family, double lr);

// The largest |element| over the gradients of every parameter in `params` (0 when none has one,
// inf/NaN when one is not finite): one amax per tensor and one synchronization.
double max_abs_gradient(const std::vector<ParamInfo>& params);

// The per-filter (unbiased) σ of every weight the probes watch (normalized and plain conv weights,
// dim ≥ 2) against `threshold`: per layer and in all, and the smallest σ (collapse_watch.h).
SigmaCensus sigma_census(const std::vector<ParamInfo>& params, double threshold);

// min and mean of the per-filter (unbiased) σ over every 4-D normalized or plain conv weight among
// `params` (NaN when there is none): the end-of-epoch σ summary of a run.
std::pair<double, double> conv_filter_sigma(const std::vector<ParamInfo>& params);

}  // namespace eshift
