#pragma once
// The layer-wise trust ratio of LARS (You et al., 2017) and LAMB (You et al., 2020):
//   trust = c·‖p‖ / ‖u‖, and 1 when ‖p‖ = 0 or ‖u‖ = 0 (as timm's and NVIDIA's implementations),
// for a parameter tensor p and its update u (LARS: the regularized gradient, c = 0.001; LAMB: the
// regularized Adam direction, c = 1). A double: one synchronization per tensor, as the reference.
#include <torch/torch.h>

namespace eshift {

inline double trust_ratio(const torch::Tensor& p, const torch::Tensor& update, double coefficient) {
  const double p_norm = p.norm().item<double>(), u_norm = update.norm().item<double>();
  return p_norm > 0 && u_norm > 0 ? coefficient * p_norm / u_norm : 1.0;
}

}  // namespace eshift
