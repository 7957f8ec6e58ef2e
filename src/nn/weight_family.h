#pragma once
// The weight normalization family as pure functions of a raw weight.
//
// Every function works per OUTPUT FILTER: a weight of shape [out, ...] is viewed as `out` rows
// w ∈ R^n, n = fan-in = prod(shape[1:]) (= C_in·k·k / groups for a conv). Statistics never mix
// filters. All functions are differentiable with autograd and work in any floating dtype.
#include <torch/torch.h>

#include <string>

namespace eshift {

// Which member of the family a normalized weight belongs to.
enum class WeightFamily {
  None,  // a plain weight (no reparameterization)
  WS,    // weight standardization:    w' = (w − μ1) / (σ + δ)
  WN,    // weight normalization:       w' = g · w / ‖w‖
  CWN,   // centered weight norm.:      w' = g · (w − μ1) / ‖w − μ1‖
};

std::string family_name(WeightFamily family);
// Parses "none" | "ws" | "wn" | "cwn"; throws std::invalid_argument naming the value otherwise.
WeightFamily parse_family(const std::string& name);

// Conventions for weight standardization. The default is the paper's code:
//   σ = UNBIASED std (divide by n − 1), δ = 1e-5 added OUTSIDE the square root: w' = (w − μ)/(σ + δ).
// With delta_inside_sqrt = true the other public convention is used:
//   w' = (w − μ) / sqrt(var_biased + δ)   (var divides by n), e.g. δ = 1e-6 or 1e-5.
// δ = 0 gives exact scale and shift invariance.
struct WSOptions {
  double delta = 1e-5;
  bool delta_inside_sqrt = false;
};

// [out, ...] → [out, n]: one row per output filter (a view when w is contiguous). Every per-filter
// formula of eshift (the family, the regularizers, the probes) starts here; needs >= 2 dimensions.
torch::Tensor filter_rows(const torch::Tensor& w);

// (w − μ)/(σ + δ) or (w − μ)/sqrt(var_b + δ), per filter; same shape as w.
torch::Tensor standardize_weight(const torch::Tensor& w, const WSOptions& options = {});

// g · v / ‖v‖ per filter; g has shape [out].
torch::Tensor weight_normalize(const torch::Tensor& v, const torch::Tensor& g);

// g · (v − μ1) / ‖v − μ1‖ per filter; g has shape [out].
torch::Tensor centered_weight_normalize(const torch::Tensor& v, const torch::Tensor& g);

// Per-filter statistics of a raw weight, each of shape [out] (used by probes, the demo and tests).
torch::Tensor filter_mean(const torch::Tensor& w);
torch::Tensor filter_std(const torch::Tensor& w);   // unbiased (n − 1)
torch::Tensor filter_norm(const torch::Tensor& w);  // ‖w‖₂
torch::Tensor filter_centered_norm(const torch::Tensor& w);  // ‖w − μ1‖₂

}  // namespace eshift
