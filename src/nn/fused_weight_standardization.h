#pragma once
// Weight standardization (weight_family.h's standardize_weight) as one autograd function with its
// own CPU kernels: two passes over the weight forward, two backward, instead of the dozen
// elementwise ops (and their saved temporaries) of the composition of LibTorch's ops. At ResNet-50's
// 23.5 M conv weights that composition costs about a tenth of a bfloat16 training step at batch 16.
//
// Per output filter (row w ∈ R^K of the [out, K] view), with c = w − μ1 and Σ over the row:
//   μ = Σw / K
//   δ outside (the paper's):  s = sqrt(Σc² / (K − 1)) (unbiased), d = s + δ,  q = 1 / (s (K − 1))
//   δ inside:                 d = sqrt(Σc² / K + δ) (biased),                q = 1 / (d K)
//   forward   ŵ = c / d
//   backward  ∂L/∂w = (g − (Σg / K) 1) / d − c · (Σ g c) · q / d²      (g = ∂L/∂ŵ)
// (q = ∂d/∂c_j / c_j; the Σg term is the mean's gradient, as Σc = 0.) Sums are accumulated in double;
// each result is rounded once to the weight's type. Like autograd through sqrt, a constant filter
// with δ outside (s = 0) has a NaN gradient.
//
// Applies to float32/float64 CPU weights whose filters each occupy K consecutive elements
// (contiguous, or channels-last 4-D); `standardize_weight` uses it there unless
// set_fused_weight_standardization(false) (for comparison: `eshift bench --no-fused-ws`). Its
// backward is not itself differentiable (no double backward), unlike the composition.
#include <torch/torch.h>

namespace eshift {

// Whether the fused function would standardize `w` (layout, dtype, device; the switch below).
bool fused_weight_standardization_applies(const torch::Tensor& w);

// ŵ as above; `w` must satisfy fused_weight_standardization_applies, and have K >= 2.
torch::Tensor fused_standardize_weight(const torch::Tensor& w, double delta, bool delta_inside_sqrt);

// Whether standardize_weight uses the fused function where it applies (default true; process-wide).
void set_fused_weight_standardization(bool enabled);
bool fused_weight_standardization_enabled();

}  // namespace eshift
