#include "eshift/regularize/decay_policy.h"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

#include "eshift/core/text.h"

namespace eshift {

DecayPolicy::DecayPolicy(DecayFlags flags) : flags_(flags) { flags_.validate(); }

Regularizer DecayPolicy::ordinary() const { return Regularizer::l2(flags_.wd).applied_decoupled(flags_.decoupled); }

Regularizer DecayPolicy::regularizer_for(const ParamInfo& p) const {
  const bool conv = p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight;
  if (conv && flags_.el2)
    return Regularizer::eps_shifted(p.family, flags_.lam, flags_.mineps).applied_decoupled(flags_.decoupled);
  if (flags_.wd_all) return ordinary();
  bool decay = false;
  switch (p.role) {
    case ParamRole::NormalizedWeight:
    case ParamRole::ConvWeight:
    case ParamRole::DepthwiseWeight: decay = !flags_.nowd_conv; break;
    case ParamRole::NormScale: decay = !flags_.nowd_bn; break;
    case ParamRole::ClassifierWeight: decay = !flags_.nowd_fc; break;
    case ParamRole::NormShift:
    case ParamRole::Bias: decay = false; break;
  }
  return decay ? ordinary() : Regularizer::none();
}

namespace {
bool same(const Regularizer& a, const Regularizer& b) {
  // an inactive regularizer (λ = 0) is the same as none
  if (!a.active() || !b.active()) return a.active() == b.active();
  return a.kind == b.kind && a.lambda == b.lambda && a.eps == b.eps && a.family == b.family &&
         a.decoupled == b.decoupled;
}
}  // namespace

std::vector<RegularizedGroup> DecayPolicy::group(const std::vector<ParamInfo>& params) const {
  std::vector<RegularizedGroup> groups;
  for (const auto& p : params) {
    auto reg = regularizer_for(p);
    if (!reg.active()) reg = Regularizer::none();
    RegularizedGroup* target = nullptr;
    for (auto& g : groups)
      if (same(g.regularizer, reg)) target = &g;
    if (!target) {
      groups.push_back({reg, {}});
      target = &groups.back();
    }
    target->params.push_back(p.tensor);
  }
  return groups;
}

std::string DecayPolicy::table(const std::vector<ParamInfo>& params) const {
  struct Row { std::string reg; int64_t tensors = 0, elements = 0; };
  std::map<std::pair<std::string, std::string>, Row> rows;  // (role, regularizer) -> counts
  for (const auto& p : params) {
    auto reg = regularizer_for(p);
    std::string role = role_name(p.role);
    if (p.family != WeightFamily::None) role += " [" + family_name(p.family) + "]";
    auto& row = rows[{role, reg.active() ? reg.describe() : "none"}];
    row.tensors += 1;
    row.elements += p.tensor.numel();
  }
  std::ostringstream s;
  s << pad_right("role", 28) << pad_right("regularizer", 36) << std::setw(8) << "tensors" << std::setw(12) << "elements"
    << "\n";
  for (const auto& [key, row] : rows)
    s << pad_right(key.first, 28) << pad_right(key.second, 36) << std::setw(8) << row.tensors << std::setw(12)
      << row.elements << "\n";
  return s.str();
}

}  // namespace eshift
