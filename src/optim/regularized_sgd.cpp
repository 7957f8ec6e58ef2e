#include "eshift/optim/regularized_sgd.h"

#include <torch/optim/serialize.h>

#include "eshift/core/torch_compat.h"
#include "eshift/optim/fused_sgd_step.h"
#include "eshift/optim/option_archive.h"
#include "eshift/optim/param_groups.h"
#include "eshift/optim/trust_ratio.h"

namespace eshift {

// ------------------------------------------------------------------ serialization
void RegularizedSGDOptions::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("lr", torch::IValue(lr()));
  archive.write("momentum", torch::IValue(momentum()));
  archive.write("dampening", torch::IValue(dampening()));
  archive.write("nesterov", torch::IValue(nesterov()));
  write_regularizer(archive, regularizer());
  archive.write("trust_coefficient", torch::IValue(trust_coefficient()));
  write_projection(archive, projection(), projection_options());
}

void RegularizedSGDOptions::serialize(torch::serialize::InputArchive& archive) {
  torch::IValue v;
  archive.read("lr", v); lr(v.toDouble());
  archive.read("momentum", v); momentum(v.toDouble());
  archive.read("dampening", v); dampening(v.toDouble());
  archive.read("nesterov", v); nesterov(v.toBool());
  regularizer(read_regularizer(archive));
  // checkpoints written before LARS and SGDP existed have neither
  if (archive.try_read("trust_coefficient", v)) trust_coefficient(v.toDouble());
  Projection mode;
  ProjectionOptions po;
  read_projection(archive, mode, po);
  projection(mode);
  projection_options(po);
}

void RegularizedSGDParamState::serialize(torch::serialize::OutputArchive& archive) const {
  if (momentum_buffer().defined()) archive.write("momentum_buffer", momentum_buffer(), /*is_buffer=*/true);
}

void RegularizedSGDParamState::serialize(torch::serialize::InputArchive& archive) {
  torch::Tensor buf;
  if (archive.try_read("momentum_buffer", buf, /*is_buffer=*/true)) momentum_buffer(buf);
}

void RegularizedSGD::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<RegularizedSGDParamState, RegularizedSGDOptions>(archive, *this);
}

void RegularizedSGD::load(torch::serialize::InputArchive& archive) {
  torch::optim::serialize<RegularizedSGDParamState, RegularizedSGDOptions>(archive, *this);
}

// ------------------------------------------------------------------ construction
void RegularizedSGDOptions::check() const {
  const auto& o = *this;
  TORCH_CHECK(o.lr() >= 0, "invalid learning rate: ", o.lr());
  TORCH_CHECK(o.momentum() >= 0, "invalid momentum: ", o.momentum());
  TORCH_CHECK(o.dampening() >= 0 && o.dampening() <= 1, "invalid dampening: ", o.dampening());
  TORCH_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0),
              "nesterov momentum requires a momentum and zero dampening");
  TORCH_CHECK(o.regularizer().lambda >= 0 && o.regularizer().eps >= 0, "invalid regularizer: ",
              o.regularizer().describe());
  TORCH_CHECK(o.trust_coefficient() >= 0, "invalid LARS trust coefficient: ", o.trust_coefficient());
  if (o.projection() != Projection::Off) {
    TORCH_CHECK(o.momentum() < 1, "SGDP scales its decay by 1/(1 − momentum): momentum must be < 1");
    TORCH_CHECK(!o.regularizer().coupled(), "SGDP applies decay decoupled, as clovaai's: got ",
                o.regularizer().describe());
    TORCH_CHECK(o.trust_coefficient() == 0, "SGDP and LARS do not combine");
    o.projection_options().check();
  }
}

RegularizedSGD::RegularizedSGD(std::vector<torch::optim::OptimizerParamGroup> groups,
                               RegularizedSGDOptions defaults)
    : torch::optim::Optimizer(std::vector<torch::optim::OptimizerParamGroup>{},
                              std::make_unique<RegularizedSGDOptions>(defaults)) {
  add_param_groups(*this, groups);
  for (const auto& g : param_groups()) static_cast<const RegularizedSGDOptions&>(g.options()).check();
}

RegularizedSGD::RegularizedSGD(const std::vector<RegularizedGroup>& groups, RegularizedSGDOptions defaults)
    : RegularizedSGD(regularized_param_groups(groups, defaults), defaults) {}

// ------------------------------------------------------------------ the step
void regularized_sgd_update_(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& momentum_buffer,
                             const RegularizedSGDOptions& o) {
  torch::NoGradGuard no_grad;
  if (fused_sgd_step_applies(p, grad, momentum_buffer, o)) return fused_sgd_step_(p, grad, momentum_buffer, o);
  const auto& reg = o.regularizer();
  bool coupled = reg.coupled();
  auto d_p = grad;
  if (o.trust_coefficient() > 0 && p.dim() > 1) {  // LARS: the trust ratio of the regularized gradient
    d_p = d_p.clone();
    if (coupled) reg.add_gradient_(d_p, p);
    coupled = false;  // it is in d_p now
    d_p.mul_(trust_ratio(p, d_p, o.trust_coefficient()));
  }
  if (o.momentum() == 0) {
    if (coupled) {
      d_p = d_p.clone();
      reg.add_gradient_(d_p, p);  // the regularizer enters BEFORE momentum
    }
  } else {
    // buf ← g + ∂R/∂p on the first step, else α·buf + (1 − d)(g + ∂R/∂p); the regularizer is
    // added straight into the buffer (no temporary for g + ∂R/∂p)
    auto& buf = momentum_buffer;
    if (!buf.defined()) {
      buf = d_p.clone().detach();
      if (coupled) reg.add_gradient_(buf, p);
    } else {
      buf.mul_(o.momentum()).add_(d_p, 1 - o.dampening());
      if (coupled) reg.add_gradient_(buf, p, 1 - o.dampening());
    }
    if (o.nesterov()) {  // (g + ∂R/∂p) + α·buf
      d_p = d_p.add(buf, o.momentum());
      if (coupled) reg.add_gradient_(d_p, p);
    } else {
      d_p = buf;
    }
  }
  double decay_factor = 1;
  if (o.projection() != Projection::Off) {  // SGDP
    if (o.momentum() == 0 && d_p.is_same(grad)) d_p = d_p.clone();  // never project the gradient itself
    decay_factor = project_update_(p, grad, d_p, o.projection(), o.projection_options()) / (1 - o.momentum());
  }
  if (reg.active() && reg.decoupled) reg.apply_decoupled_(p, o.lr() * decay_factor);
  p.add_(d_p, -o.lr());
}

torch::Tensor RegularizedSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const RegularizedSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::Tensor no_buffer;
      if (o.momentum() == 0) {
        regularized_sgd_update_(p, p.grad(), no_buffer, o);
        continue;
      }
      const auto key = compat::optimizer_state_key(p);
      auto it = state_.find(key);
      if (it == state_.end()) {
        regularized_sgd_update_(p, p.grad(), no_buffer, o);
        auto st = std::make_unique<RegularizedSGDParamState>();
        st->momentum_buffer(no_buffer);
        state_[key] = std::move(st);
      } else {
        regularized_sgd_update_(p, p.grad(), static_cast<RegularizedSGDParamState&>(*it->second).momentum_buffer(), o);
      }
    }
  }
  return loss;
}

}  // namespace eshift
