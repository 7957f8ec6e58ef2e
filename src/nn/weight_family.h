#pragma once
// The weight normalization family as pure functions of a raw weight.
//
// Every function works per OUTPUT FILTER: a weight of shape [out, ...] is viewed as `out` rows
// w ∈ R^n, n = fan-in = prod(shape[1:]) (= C_in·k·k / groups for a conv). Statistics never mix
// filters. All functions are differentiable with autograd and work in any floating dtype.
#include <torch/torch.h>

#include <string>

#include "eshift/nn/family.h"

namespace eshift {

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
