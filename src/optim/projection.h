#pragma once
// The projection of SGDP and AdamP (Heo et al., "AdamP: Slowing Down the Slowdown for Momentum
// Optimizers on Scale-invariant Weights", ICLR 2021; clovaai/AdamP), which removes from the update
// of a scale-invariant weight its radial component, so that momentum does not inflate ‖w‖.
//
// For a weight p (dim > 1) with loss gradient g and update u, in a view V that is either per output
// filter ("channel": rows p[k]) or the whole tensor ("layer": one row):
//   scale-invariant when  max over rows |cos(g_row, p_row)| < δ / √(row length)
//   (clovaai's test: the gradient of a scale-invariant weight is orthogonal to it); the channel
//   view is tried first, then the layer view, and the first that passes is used:
//     p̂_row = p_row / (‖p_row‖ + eps)     u_row ← u_row − p̂_row·⟨p̂_row, u_row⟩
//   and the decoupled decay of p is scaled by wd_ratio (1 when nothing is projected).
// cos is ATen's cosine_similarity with eps (clovaai: F.cosine_similarity(..., eps=eps)).
//
// eshift can replace the cosine test by what it knows: a weight whose role makes it scale-invariant
// (every eshift conv is followed by a norm layer) or that the audit measured invariant
// (models/audit.h) is projected per output filter; any other one is never projected.
#include <torch/torch.h>

#include <string>

namespace eshift {

enum class Projection {
  Off,     // not SGDP/AdamP: plain SGD/Adam
  Cosine,  // clovaai's test on every step
  Always,  // known scale-invariant per output filter: project in the channel view
  Never,   // known not scale-invariant: never project (wd factor 1)
};
std::string projection_name(Projection p);

struct ProjectionOptions {
  double delta = 0.1;     // δ of the cosine test
  double wd_ratio = 0.1;  // decoupled decay factor of projected weights
  double eps = 1e-8;      // in the cosine and in p̂'s denominator
  void check() const;     // TORCH_CHECKs: δ > 0, wd_ratio in [0, 1], eps > 0
};

// Projects `update` in place as above for weight `p` with loss gradient `grad`; returns the factor
// of p's decoupled decay (wd_ratio when projected, 1 otherwise). Tensors of dim ≤ 1 are never projected.
double project_update_(const torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& update, Projection mode,
                       const ProjectionOptions& options);

}  // namespace eshift
