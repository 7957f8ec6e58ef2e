#include "eshift/decay_policy.h"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

namespace eshift {

void DecayFlags::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  check(std::isfinite(wd) && wd >= 0, "--wd must be a finite value >= 0");
  check(std::isfinite(lam) && lam >= 0, "--lam must be a finite value >= 0");
  check(std::isfinite(mineps) && mineps >= 0, "--mineps (ε) must be a finite value >= 0");
}

DecayPolicy::DecayPolicy(DecayFlags flags) : flags_(flags) { flags_.validate(); }

Regularizer DecayPolicy::ordinary() const {
  return flags_.decoupled ? Regularizer::decoupled(flags_.wd) : Regularizer::l2(flags_.wd);
}

Regularizer DecayPolicy::regularizer_for(const ParamInfo& p) const {
  const bool conv = p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight;
  if (conv && flags_.el2) return Regularizer::eps_shifted(p.family, flags_.lam, flags_.mineps);
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
// Left-aligns to a width in characters (UTF-8 aware: λ, ε, γ count as one).
std::string pad(const std::string& text, size_t width) {
  size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  return text + std::string(chars < width ? width - chars : 1, ' ');
}

bool same(const Regularizer& a, const Regularizer& b) {
  // an inactive regularizer (λ = 0) is the same as none
  if (!a.active() || !b.active()) return a.active() == b.active();
  return a.kind == b.kind && a.lambda == b.lambda && a.eps == b.eps && a.family == b.family;
}
}  // namespace

std::vector<DecayGroup> DecayPolicy::group(const std::vector<ParamInfo>& params) const {
  std::vector<DecayGroup> groups;
  for (const auto& p : params) {
    auto reg = regularizer_for(p);
    if (!reg.active()) reg = Regularizer::none();
    DecayGroup* target = nullptr;
    for (auto& g : groups)
      if (same(g.regularizer, reg)) target = &g;
    if (!target) {
      groups.push_back({reg, {}});
      target = &groups.back();
    }
    target->params.push_back(p);
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
  s << pad("role", 28) << pad("regularizer", 36) << std::setw(8) << "tensors" << std::setw(12) << "elements"
    << "\n";
  for (const auto& [key, row] : rows)
    s << pad(key.first, 28) << pad(key.second, 36) << std::setw(8) << row.tensors << std::setw(12)
      << row.elements << "\n";
  return s.str();
}

}  // namespace eshift
