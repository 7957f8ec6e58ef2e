#pragma once
// Adam whose weight decay is a per-group Regularizer — Adam with coupled L2, AdamW (decoupled) —
// and its relatives LAMB and AdamP as options of the same step.
//
// One step t (from 1), per parameter p with gradient g, group rate η, betas β₁ β₂, eps e, regularizer R:
//   coupled R:    g ← g + ∂R/∂p                          (Adam with L2: through the moments)
//   moments:      m ← β₁m + (1 − β₁)g     v ← β₂v + (1 − β₂)g²
//   direction:    u = m / (√v / √(1 − β₂ᵗ) + e)  and the step size s = η / (1 − β₁ᵗ)   (torch's Adam)
//   LAMB (trust_ratio): u ← m/(1 − β₁ᵗ) / (√v/√(1 − β₂ᵗ) + e) + ∂R/∂p for a decoupled R (the decay is
//                 part of the update whose trust ratio is taken, as LAMB does for λp), then for p of
//                 dim > 1:  p ← p − η·(‖p‖/‖u‖)·u  (trust 1 when a norm is 0; dim ≤ 1: p ← p − η·u).
//                 No gradient clipping and no bias-correction switch (timm's options).
//   AdamP (projection ≠ Off): u loses its radial component (optim/projection.h), and the
//                 decoupled decay is scaled by r = wd_ratio where projected, else 1
//   decoupled R:  p ← p − η·r·∂R/∂p (l2: p ← (1 − ηrλ)·p), r = 1 without AdamP, applied before the
//                 update, as torch's AdamW does
//   p ← p − s·u
// With R = l2(λ) this is torch.optim.Adam(weight_decay=λ); decoupled, torch.optim.AdamW(weight_decay=λ).
#include <torch/torch.h>

#include <vector>

#include "eshift/optim/projection.h"
#include "eshift/regularize/regularizer.h"

namespace eshift {

struct RegularizedAdamOptions : public torch::optim::OptimizerCloneableOptions<RegularizedAdamOptions> {
  RegularizedAdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit like torch::optim::AdamOptions
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(Regularizer, regularizer) = Regularizer::none();
  TORCH_ARG(bool, trust_ratio) = false;                 // LAMB
  TORCH_ARG(Projection, projection) = Projection::Off;  // AdamP when not Off
  TORCH_ARG(ProjectionOptions, projection_options) = {};

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
  // TORCH_CHECKs every option (a message naming it); the optimizer checks each group's.
  void check() const;
};

// One parameter's step t = step + 1, the formulas above: p (updated in place) with its loss gradient
// `grad` and its state, the steps taken so far and the two moments (undefined before the first step:
// then created as zeros in p's memory format); `step` is incremented. RegularizedAdam::step runs it
// for every parameter with a gradient, and so does the Python package's eshift.optim.Adam.
void regularized_adam_update_(torch::Tensor& p, const torch::Tensor& grad, int64_t& step, torch::Tensor& exp_avg,
                              torch::Tensor& exp_avg_sq, const RegularizedAdamOptions& o);

struct RegularizedAdamParamState
    : public torch::optim::OptimizerCloneableParamState<RegularizedAdamParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, exp_avg);
  TORCH_ARG(torch::Tensor, exp_avg_sq);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class RegularizedAdam : public torch::optim::Optimizer {
 public:
  RegularizedAdam(std::vector<torch::optim::OptimizerParamGroup> groups, RegularizedAdamOptions defaults);
  // One param group per regularized group; every group shares `defaults` but its regularizer.
  RegularizedAdam(const std::vector<RegularizedGroup>& groups, RegularizedAdamOptions defaults);

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
};

}  // namespace eshift
