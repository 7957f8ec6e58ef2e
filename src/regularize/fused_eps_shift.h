#pragma once
// The ε-shifted L2 gradient (regularizer.h) added in place by one CPU kernel: per output filter, one
// pass for the radius and one that adds, instead of the composition's mean, offset, norm, factor
// and sums over [out, n] temporaries.
//
// Per filter w ∈ R^n (a row of the [out, n] view), sums in double, each result rounded once:
//   WS   c = μ, r = σ (unbiased);  CWN  c = μ, r = ‖w − μ‖;  WN  c = 0, r = ‖w‖
//   out += step · [f · (w − c) + c],  f = 1 − ε/r, or 1 where r is below the smallest normal
//   number of w's type (regularizer.h: a filter without a radius)
//
// Applies to float32/float64 CPU tensors where `out` has w's shape, type and strides and each
// filter's n elements are consecutive (contiguous, or channels-last 4-D). `out` may be `w` itself
// (the decoupled step). Regularizer::add_gradient_ uses it there unless set_fused_eps_shift(false)
// (for comparison: `eshift bench --no-fused-reg`).
#include <torch/torch.h>

#include "eshift/nn/family.h"

namespace eshift {

bool fused_eps_shift_applies(const torch::Tensor& out, const torch::Tensor& w);

// out += step · ∂R/∂w / λ for the family's ε-shifted penalty (the caller folds λ into step).
void fused_add_eps_shift_gradient_(torch::Tensor& out, const torch::Tensor& w, WeightFamily family, double eps,
                                   double step);

// Whether Regularizer::add_gradient_ uses the kernel where it applies (default true; process-wide).
void set_fused_eps_shift(bool enabled);
bool fused_eps_shift_enabled();

}  // namespace eshift
