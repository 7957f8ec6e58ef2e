#include "eshift/optim/make_optimizer.h"

#include "eshift/optim/regularized_adam.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/decay_policy.h"

namespace eshift {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, double lr,
                                                        const std::vector<ParamInfo>& params, DecayFlags flags,
                                                        const std::vector<bool>& known_invariant) {
  spec.validate();
  TORCH_CHECK(known_invariant.empty() || known_invariant.size() == params.size(),
              "make_optimizer: ", known_invariant.size(), " invariance flags for ", params.size(), " parameters");
  const DecayPolicy policy(spec.applied(flags));
  ProjectionOptions projection;
  projection.delta = spec.proj_delta;
  projection.wd_ratio = spec.wd_ratio;

  // the parameters by projection mode, each mode's parameters grouped by regularizer
  struct ModeGroups { Projection mode; std::vector<RegularizedGroup> groups; };
  std::vector<ModeGroups> by_mode;
  if (!spec.projects()) {
    by_mode.push_back({Projection::Off, policy.group(params)});
  } else if (known_invariant.empty()) {
    by_mode.push_back({Projection::Cosine, policy.group(params)});
  } else {
    std::vector<ParamInfo> invariant, other;
    for (size_t i = 0; i < params.size(); ++i) (known_invariant[i] ? invariant : other).push_back(params[i]);
    by_mode.push_back({Projection::Always, policy.group(invariant)});
    by_mode.push_back({Projection::Never, policy.group(other)});
  }

  // --mineps auto chooses ε per parameter: each ε-shifted parameter a group of its own
  if (flags.mineps_auto)
    for (auto& m : by_mode) {
      std::vector<RegularizedGroup> split;
      for (const auto& g : m.groups) {
        if (g.regularizer.kind != RegKind::EpsShifted) {
          split.push_back(g);
          continue;
        }
        for (const auto& p : g.params) split.push_back({g.regularizer, {p}});
      }
      m.groups = std::move(split);
    }

  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (spec.sgd_family()) {
    RegularizedSGDOptions base(lr);
    base.momentum(spec.momentum).dampening(spec.dampening).nesterov(spec.nesterov);
    if (spec.name == "lars") base.trust_coefficient(spec.trust_coefficient);
    if (spec.name == "sgdp") base.projection_options(projection);
    for (const auto& m : by_mode)
      for (const auto& g : m.groups) {
        auto o = std::make_unique<RegularizedSGDOptions>(base);
        o->regularizer(g.regularizer).projection(m.mode);
        groups.emplace_back(g.params, std::move(o));
      }
    return std::make_unique<RegularizedSGD>(std::move(groups), base);
  }
  RegularizedAdamOptions base(lr);
  base.beta1(spec.beta1).beta2(spec.beta2).eps(spec.adam_eps).trust_ratio(spec.name == "lamb");
  if (spec.name == "adamp") base.projection_options(projection);
  for (const auto& m : by_mode)
    for (const auto& g : m.groups) {
      auto o = std::make_unique<RegularizedAdamOptions>(base);
      o->regularizer(g.regularizer).projection(m.mode);
      groups.emplace_back(g.params, std::move(o));
    }
  return std::make_unique<RegularizedAdam>(std::move(groups), base);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  TORCH_CHECK(lr >= 0, "invalid learning rate: ", lr);
  for (auto& g : optimizer.param_groups()) g.options().set_lr(lr);
}

int set_eps_shift(torch::optim::Optimizer& optimizer, const std::function<double(const torch::Tensor&)>& eps_of) {
  int changed = 0;
  for (auto& g : optimizer.param_groups()) {
    if (g.params().empty()) continue;
    const double eps = eps_of(g.params().front());
    for (const auto& p : g.params())
      TORCH_CHECK(eps_of(p) == eps, "set_eps_shift: two ε for one param group");
    if (eps < 0) continue;  // leave it
    auto with_eps = [&](Regularizer r) {
      if (r.kind == RegKind::EpsShifted) r.eps = eps, ++changed;
      return r;
    };
    if (auto* o = dynamic_cast<RegularizedSGDOptions*>(&g.options())) {
      o->regularizer(with_eps(o->regularizer()));
    } else if (auto* a = dynamic_cast<RegularizedAdamOptions*>(&g.options())) {
      a->regularizer(with_eps(a->regularizer()));
    }
  }
  return changed;
}

}  // namespace eshift
