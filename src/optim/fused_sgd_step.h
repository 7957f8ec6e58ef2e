#pragma once
// RegularizedSGD's momentum step (regularized_sgd.h) for one parameter as one CPU kernel, where the
// composition runs four passes over the parameter's size (buf·α, + s·g, + s·∂R/∂p, p − η·buf):
//
//   buf ← α·buf + s·(g + ∂R/∂p),   p ← p − η·buf        (s = 1 − dampening)
//
// per filter row of p's [out, n] view, with ∂R/∂p = λ·(f·(p − c) + c) for the coupled regularizer:
// f and c the ε-shifted one's, from the filter's own center and radius before p changes
// (regularize/eps_shift_row.h); ∂R/∂p = λp for L2; none without decay. Computed in double, buf rounded
// once to p's type and p updated with the rounded buf (the buffer is the state a checkpoint keeps).
//
// Applies to the plain momentum step (a buffer from an earlier step, no nesterov, LARS or SGDP) of a
// float32/float64 CPU parameter whose gradient and buffer have its type, shape and strides, with each
// filter's elements consecutive (contiguous, or channels-last 4-D), and a regularizer that is none or
// coupled. regularized_sgd_update_ uses it there unless set_fused_sgd_step(false) (for comparison:
// `eshift bench --no-fused-sgd`).
#include <torch/torch.h>

#include "eshift/optim/regularized_sgd.h"

namespace eshift {

bool fused_sgd_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& momentum_buffer,
                            const RegularizedSGDOptions& o);

void fused_sgd_step_(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& momentum_buffer,
                     const RegularizedSGDOptions& o);

// Whether regularized_sgd_update_ uses the kernel where it applies (default true; process-wide).
void set_fused_sgd_step(bool enabled);
bool fused_sgd_step_enabled();

}  // namespace eshift
