#pragma once
// The members of the weight normalization family and the WS conventions, by name: what model specs,
// flags and records need, without LibTorch (the formulas are in weight_family.h).
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

}  // namespace eshift
