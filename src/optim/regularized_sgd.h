#pragma once
// SGD with momentum, dampening and nesterov whose weight decay is a per-group Regularizer.
//
// One step, per parameter p with gradient g, group rate η, momentum α, dampening d, regularizer R:
//   coupled R (l2, eps-shifted):  g ← g + ∂R/∂p           (BEFORE momentum, like the reference LSGD)
//   momentum:   buf ← g on the first step, else buf ← α·buf + (1 − d)·g
//               g ← g + α·buf (nesterov)  or  g ← buf
//   decoupled R:  p ← p − η·λ·p            (outside the gradient and the momentum, as in AdamW)
//   p ← p − η·g
// With momentum = 0 and R = l2(λ) this is torch.optim.SGD(weight_decay=λ) exactly.
#include <torch/torch.h>

#include <vector>

#include "eshift/regularize/regularizer.h"

namespace eshift {

struct RegularizedSGDOptions : public torch::optim::OptimizerCloneableOptions<RegularizedSGDOptions> {
  RegularizedSGDOptions(double lr = 0.1) : lr_(lr) {}  // NOLINT: implicit like torch::optim::SGDOptions
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0;
  TORCH_ARG(double, dampening) = 0;
  TORCH_ARG(bool, nesterov) = false;
  TORCH_ARG(Regularizer, regularizer) = Regularizer::none();

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

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

  // Sets the learning rate of every group.
  void set_lr(double lr);

 private:
  static void check(const RegularizedSGDOptions& o);
};

}  // namespace eshift
