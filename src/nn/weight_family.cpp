#include "eshift/nn/weight_family.h"

#include "eshift/nn/fused_weight_standardization.h"

namespace eshift {

torch::Tensor filter_rows(const torch::Tensor& w) {
  TORCH_CHECK(w.dim() >= 2, "per-filter math needs a weight with at least 2 dimensions (one row per output "
              "filter), got shape ", w.sizes());
  return w.reshape({w.size(0), -1});
}

torch::Tensor standardize_weight(const torch::Tensor& w, const WSOptions& options) {
  // the same formulas as one function with its own CPU kernels (fused_weight_standardization.h)
  if (fused_weight_standardization_applies(w)) return fused_standardize_weight(w, options.delta, options.delta_inside_sqrt);
  auto r = filter_rows(w);
  TORCH_CHECK(r.size(1) >= 2, "weight standardization needs a fan-in of at least 2, got shape ", w.sizes());
  auto centered = r - r.mean(1, /*keepdim=*/true);
  torch::Tensor denom;
  if (options.delta_inside_sqrt) {
    // biased variance (divide by n), δ inside the square root
    denom = (centered.pow(2).mean(1, /*keepdim=*/true) + options.delta).sqrt();
  } else {
    // the paper's convention: unbiased std (divide by n − 1), δ outside the square root
    denom = centered.pow(2).sum(1, /*keepdim=*/true).div(r.size(1) - 1).sqrt() + options.delta;
  }
  return (centered / denom).view(w.sizes());
}

torch::Tensor weight_normalize(const torch::Tensor& v, const torch::Tensor& g) {
  auto r = filter_rows(v);
  TORCH_CHECK(g.dim() == 1 && g.size(0) == r.size(0), "gain must have shape [", r.size(0), "], got ", g.sizes());
  return (r * (g / r.norm(2, 1)).unsqueeze(1)).view(v.sizes());
}

torch::Tensor centered_weight_normalize(const torch::Tensor& v, const torch::Tensor& g) {
  auto r = filter_rows(v);
  TORCH_CHECK(g.dim() == 1 && g.size(0) == r.size(0), "gain must have shape [", r.size(0), "], got ", g.sizes());
  auto centered = r - r.mean(1, /*keepdim=*/true);
  return (centered * (g / centered.norm(2, 1)).unsqueeze(1)).view(v.sizes());
}

torch::Tensor filter_mean(const torch::Tensor& w) { return filter_rows(w).mean(1); }
torch::Tensor filter_std(const torch::Tensor& w) { return filter_rows(w).std(1, /*unbiased=*/true); }
torch::Tensor filter_norm(const torch::Tensor& w) { return filter_rows(w).norm(2, 1); }
torch::Tensor filter_centered_norm(const torch::Tensor& w) {
  auto r = filter_rows(w);
  return (r - r.mean(1, /*keepdim=*/true)).norm(2, 1);
}

}  // namespace eshift
