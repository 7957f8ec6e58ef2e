#pragma once
// SGD with momentum, dampening and nesterov whose weight decay is a per-group Regularizer, and its
// two relatives LARS and SGDP as options of the same step.
//
// One step, per parameter p with gradient g, group rate η, momentum α, dampening d, regularizer R:
//   coupled R (l2, eps-shifted):  g ← g + ∂R/∂p           (BEFORE momentum, like the reference LSGD)
//   LARS (trust_coefficient c > 0, p of dim > 1): g ← c·‖p‖/‖g‖ · g, the trust ratio taken on the
//               regularized gradient (1 when ‖p‖ or ‖g‖ is 0). You et al. bound ‖g + λp‖ by
//               ‖g‖ + λ‖p‖; eshift takes the norm itself, which also serves the ε-shifted ∂R/∂p.
//               Tensors of dim ≤ 1 (biases, norm affines) are not adapted, as is usual for LARS.
//   momentum:   buf ← g on the first step, else buf ← α·buf + (1 − d)·g
//               u ← g + α·buf (nesterov)  or  u ← buf
//   SGDP (projection ≠ Off): u loses its radial component (optim/projection.h), in place, so
//               without nesterov the momentum buffer itself is projected, as in clovaai's code
//               (their buffer starts at 0, not g: the same when d = 0); the decoupled decay is
//               scaled by r/(1 − α), r = wd_ratio where projected, else 1
//   decoupled R:  p ← p − η·r·∂R/∂p (l2: p ← (1 − ηrλ)·p), r = 1 without SGDP
//   p ← p − η·u
// With momentum = 0 and R = l2(λ) this is torch.optim.SGD(weight_decay=λ) exactly.
#include <torch/torch.h>

#include <vector>

#include "eshift/optim/projection.h"
#include "eshift/regularize/regularizer.h"

namespace eshift {

struct RegularizedSGDOptions : public torch::optim::OptimizerCloneableOptions<RegularizedSGDOptions> {
  RegularizedSGDOptions(double lr = 0.1) : lr_(lr) {}  // NOLINT: implicit like torch::optim::SGDOptions
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0;
  TORCH_ARG(double, dampening) = 0;
  TORCH_ARG(bool, nesterov) = false;
  TORCH_ARG(Regularizer, regularizer) = Regularizer::none();
  TORCH_ARG(double, trust_coefficient) = 0;          // LARS's c (You et al.: 0.001); 0 = off
  TORCH_ARG(Projection, projection) = Projection::Off;  // SGDP when not Off
  TORCH_ARG(ProjectionOptions, projection_options) = {};

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
  // TORCH_CHECKs every option (a message naming it); the optimizer checks each group's.
  void check() const;
};

// One parameter's step, the formulas above: p (updated in place) with its loss gradient `grad` and
// its momentum buffer, the parameter's state (undefined before its first step with momentum: then
// created here). RegularizedSGD::step runs it for every parameter with a gradient, and so does
// the Python package's eshift.optim.SGD, which keeps the buffer in its own state.
void regularized_sgd_update_(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& momentum_buffer,
                             const RegularizedSGDOptions& o);

struct RegularizedSGDParamState
    : public torch::optim::OptimizerCloneableParamState<RegularizedSGDParamState> {
  TORCH_ARG(torch::Tensor, momentum_buffer);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class RegularizedSGD : public torch::optim::Optimizer {
 public:
  // Groups with their own options (each option's regularizer applies to its group).
  RegularizedSGD(std::vector<torch::optim::OptimizerParamGroup> groups, RegularizedSGDOptions defaults);
  // One param group per regularized group; every group shares `defaults` but its regularizer.
  RegularizedSGD(const std::vector<RegularizedGroup>& groups, RegularizedSGDOptions defaults);

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
};

}  // namespace eshift
