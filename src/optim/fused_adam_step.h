#pragma once
// RegularizedAdam's step (regularized_adam.h) for one parameter as one CPU kernel, where the
// composition runs about a dozen passes over the parameter's size (the coupled gradient's copy, the
// two moments, √v, the denominator, the decoupled decay, the update):
//
//   coupled R:    g' = g + ∂R/∂p                         (else g' = g)
//   m ← β₁m + (1 − β₁)g',   v ← β₂v + (1 − β₂)g'²
//   decoupled R:  p ← p − η·∂R/∂p                        (from p before the step, as torch's AdamW)
//   p ← p − (η/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + e)
//
// per filter row of p's [out, n] view, with ∂R/∂p = λ·(f·(p − c) + c): f and c the ε-shifted
// regularizer's, from the filter's own center and radius (regularize/eps_shift_row.h); ∂R/∂p = λp for
// L2; none without decay. Computed in double from the stored values; m and v rounded once
// to p's type, and the update computed from the rounded m and v (the state a checkpoint keeps).
//
// Applies to Adam and AdamW (not LAMB or AdamP) on a float32/float64 CPU parameter whose gradient and
// moments (created before the call, zeros on the first step) have its type, shape and strides, with
// each filter's elements consecutive (contiguous, or channels-last 4-D). regularized_adam_update_
// uses it there unless set_fused_adam_step(false).
#include <torch/torch.h>

#include "eshift/optim/regularized_adam.h"

namespace eshift {

bool fused_adam_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& m,
                             const torch::Tensor& v, const RegularizedAdamOptions& o);

// `step` is the step's number t, from 1 (already counted).
void fused_adam_step_(torch::Tensor& p, const torch::Tensor& grad, int64_t step, torch::Tensor& m, torch::Tensor& v,
                      const RegularizedAdamOptions& o);

// Whether regularized_adam_update_ uses the kernel where it applies (default true; process-wide).
void set_fused_adam_step(bool enabled);
bool fused_adam_step_enabled();

}  // namespace eshift
