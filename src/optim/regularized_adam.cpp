#include "eshift/optim/regularized_adam.h"

#include <torch/optim/serialize.h>

#include <cmath>

#include "eshift/core/torch_compat.h"
#include "eshift/optim/fused_adam_step.h"
#include "eshift/optim/option_archive.h"
#include "eshift/optim/param_groups.h"
#include "eshift/optim/trust_ratio.h"

namespace eshift {

// ------------------------------------------------------------------ serialization
void RegularizedAdamOptions::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("lr", torch::IValue(lr()));
  archive.write("beta1", torch::IValue(beta1()));
  archive.write("beta2", torch::IValue(beta2()));
  archive.write("eps", torch::IValue(eps()));
  write_regularizer(archive, regularizer());
  archive.write("trust_ratio", torch::IValue(trust_ratio()));
  write_projection(archive, projection(), projection_options());
}

void RegularizedAdamOptions::serialize(torch::serialize::InputArchive& archive) {
  torch::IValue v;
  archive.read("lr", v); lr(v.toDouble());
  archive.read("beta1", v); beta1(v.toDouble());
  archive.read("beta2", v); beta2(v.toDouble());
  archive.read("eps", v); eps(v.toDouble());
  regularizer(read_regularizer(archive));
  archive.read("trust_ratio", v); trust_ratio(v.toBool());
  Projection mode;
  ProjectionOptions po;
  read_projection(archive, mode, po);
  projection(mode);
  projection_options(po);
}

void RegularizedAdamParamState::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("step", torch::IValue(step()));
  archive.write("exp_avg", exp_avg(), /*is_buffer=*/true);
  archive.write("exp_avg_sq", exp_avg_sq(), /*is_buffer=*/true);
}

void RegularizedAdamParamState::serialize(torch::serialize::InputArchive& archive) {
  torch::IValue v;
  archive.read("step", v); step(v.toInt());
  torch::Tensor m, s;  // two tensors: read() into a defined tensor set_()s it, so one would alias both
  archive.read("exp_avg", m, /*is_buffer=*/true);
  archive.read("exp_avg_sq", s, /*is_buffer=*/true);
  exp_avg(m);
  exp_avg_sq(s);
}

void RegularizedAdam::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<RegularizedAdamParamState, RegularizedAdamOptions>(archive, *this);
}

void RegularizedAdam::load(torch::serialize::InputArchive& archive) {
  torch::optim::serialize<RegularizedAdamParamState, RegularizedAdamOptions>(archive, *this);
}

// ------------------------------------------------------------------ construction
void RegularizedAdamOptions::check() const {
  const auto& o = *this;
  TORCH_CHECK(o.lr() >= 0, "invalid learning rate: ", o.lr());
  TORCH_CHECK(o.beta1() >= 0 && o.beta1() < 1, "invalid beta1: ", o.beta1(), " (must be in [0, 1))");
  TORCH_CHECK(o.beta2() >= 0 && o.beta2() < 1, "invalid beta2: ", o.beta2(), " (must be in [0, 1))");
  TORCH_CHECK(o.eps() > 0, "invalid Adam eps: ", o.eps(), " (must be > 0)");
  TORCH_CHECK(o.regularizer().lambda >= 0 && o.regularizer().eps >= 0, "invalid regularizer: ",
              o.regularizer().describe());
  if (o.projection() != Projection::Off) {
    TORCH_CHECK(!o.regularizer().coupled(), "AdamP applies decay decoupled, as clovaai's: got ",
                o.regularizer().describe());
    TORCH_CHECK(!o.trust_ratio(), "AdamP and LAMB do not combine");
    o.projection_options().check();
  }
}

RegularizedAdam::RegularizedAdam(std::vector<torch::optim::OptimizerParamGroup> groups, RegularizedAdamOptions defaults)
    : torch::optim::Optimizer(std::vector<torch::optim::OptimizerParamGroup>{},
                              std::make_unique<RegularizedAdamOptions>(defaults)) {
  add_param_groups(*this, groups);
  for (const auto& g : param_groups()) static_cast<const RegularizedAdamOptions&>(g.options()).check();
}

RegularizedAdam::RegularizedAdam(const std::vector<RegularizedGroup>& groups, RegularizedAdamOptions defaults)
    : RegularizedAdam(regularized_param_groups(groups, defaults), defaults) {}

// ------------------------------------------------------------------ the step
void regularized_adam_update_(torch::Tensor& p, const torch::Tensor& grad_in, int64_t& step, torch::Tensor& m,
                              torch::Tensor& v, const RegularizedAdamOptions& o) {
  torch::NoGradGuard no_grad;
  if (!m.defined()) m = torch::zeros_like(p, torch::MemoryFormat::Preserve);
  if (!v.defined()) v = torch::zeros_like(p, torch::MemoryFormat::Preserve);
  if (fused_adam_step_applies(p, grad_in, m, v, o)) return fused_adam_step_(p, grad_in, ++step, m, v, o);
  const auto& reg = o.regularizer();
  auto grad = grad_in;
  if (reg.coupled()) {
    grad = grad.clone();
    reg.add_gradient_(grad, p);
  }
  ++step;
  m.mul_(o.beta1()).add_(grad, 1 - o.beta1());
  v.mul_(o.beta2()).addcmul_(grad, grad, 1 - o.beta2());
  const double bias1 = 1 - std::pow(o.beta1(), static_cast<double>(step));
  const double bias2 = 1 - std::pow(o.beta2(), static_cast<double>(step));
  auto denom = (v.sqrt() / std::sqrt(bias2)).add_(o.eps());

  if (o.trust_ratio()) {  // LAMB
    auto update = m / bias1 / denom;
    if (reg.active() && reg.decoupled) reg.add_gradient_(update, p);
    const double trust = p.dim() > 1 ? eshift::trust_ratio(p, update, 1.0) : 1.0;
    p.add_(update, -o.lr() * trust);
    return;
  }
  if (o.projection() == Projection::Off) {  // Adam, AdamW
    if (reg.active() && reg.decoupled) reg.apply_decoupled_(p, o.lr());
    p.addcdiv_(m, denom, -o.lr() / bias1);  // torch's rounding: (s·m)/denom
    return;
  }
  auto update = m / denom;  // AdamP
  const double decay_factor = project_update_(p, grad_in, update, o.projection(), o.projection_options());
  if (reg.active() && reg.decoupled) reg.apply_decoupled_(p, o.lr() * decay_factor);
  p.add_(update, -o.lr() / bias1);
}

torch::Tensor RegularizedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const RegularizedAdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto key = compat::optimizer_state_key(p);
      auto it = state_.find(key);
      if (it == state_.end()) it = state_.emplace(key, std::make_unique<RegularizedAdamParamState>()).first;
      auto& st = static_cast<RegularizedAdamParamState&>(*it->second);
      regularized_adam_update_(p, p.grad(), st.step(), st.exp_avg(), st.exp_avg_sq(), o);
    }
  }
  return loss;
}

}  // namespace eshift
