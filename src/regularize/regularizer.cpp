#include "eshift/regularize/regularizer.h"

#include "eshift/regularize/fused_eps_shift.h"

#include <limits>
#include <sstream>

namespace eshift {

Regularizer Regularizer::l2(double lambda) {
  TORCH_CHECK(lambda >= 0, "L2 strength λ must be >= 0, got ", lambda);
  return {RegKind::L2, lambda, 0, WeightFamily::WS, false};
}

Regularizer Regularizer::decoupled_l2(double lambda) { return l2(lambda).applied_decoupled(); }

Regularizer Regularizer::applied_decoupled(bool on) const {
  Regularizer r = *this;
  r.decoupled = on;
  return r;
}

Regularizer Regularizer::eps_shifted(WeightFamily family, double lambda, double eps) {
  TORCH_CHECK(lambda >= 0, "ε-shifted L2 strength λ must be >= 0, got ", lambda);
  TORCH_CHECK(eps >= 0, "ε-shifted L2 ε must be >= 0, got ", eps);
  if (family == WeightFamily::None) family = WeightFamily::WS;  // the reference's rule for plain convs
  return {RegKind::EpsShifted, lambda, eps, family, false};
}

namespace {
bool is_plain_l2(const Regularizer& r) { return r.kind != RegKind::EpsShifted || r.eps == 0; }

// Per-filter radius whose shift by ε the family penalizes, and the centering it uses.
struct Radial {
  torch::Tensor center;   // [out,1]: μ (WS, CWN) or 0 (WN)
  torch::Tensor offset;   // [out,n]: w − center
  torch::Tensor radius;   // [out,1]: σ (WS), ‖w − μ‖ (CWN), ‖w‖ (WN)
};

Radial radial(const Regularizer& r, const torch::Tensor& w) {
  auto x = filter_rows(w);
  const auto n = x.size(1);
  Radial out;
  if (r.family == WeightFamily::WN) {
    out.center = torch::zeros({x.size(0), 1}, x.options());
    out.offset = x;
    out.radius = x.norm(2, 1, /*keepdim=*/true);
  } else {
    out.center = x.mean(1, /*keepdim=*/true);
    out.offset = x - out.center;
    auto norm = out.offset.norm(2, 1, /*keepdim=*/true);
    if (r.family == WeightFamily::WS) {
      TORCH_CHECK(n >= 2, "the WS ε-shifted regularizer needs a fan-in of at least 2, got shape ", w.sizes());
      out.radius = norm / std::sqrt(static_cast<double>(n - 1));  // unbiased σ
    } else {
      out.radius = norm;
    }
  }
  return out;
}
}  // namespace

torch::Tensor Regularizer::penalty(const torch::Tensor& w) const {
  if (kind == RegKind::None) return torch::zeros({}, w.options());
  if (is_plain_l2(*this)) return 0.5 * lambda * w.pow(2).sum();
  auto x = filter_rows(w);
  const auto n = static_cast<double>(x.size(1));
  auto rd = radial(*this, w);
  auto shifted = (rd.radius - eps).pow(2);
  switch (family) {
    case WeightFamily::WN: return 0.5 * lambda * shifted.sum();
    case WeightFamily::CWN: return 0.5 * lambda * (n * rd.center.pow(2) + shifted).sum();
    default: return 0.5 * lambda * (n * rd.center.pow(2) + (n - 1) * shifted).sum();
  }
}

torch::Tensor Regularizer::gradient(const torch::Tensor& w) const {
  auto out = torch::zeros_like(w);
  add_gradient_(out, w);
  return out;
}

void Regularizer::add_gradient_(torch::Tensor& out, const torch::Tensor& w, double scale) const {
  if (!active()) return;
  if (is_plain_l2(*this)) {
    out.add_(w, scale * lambda);
    return;
  }
  // λ[(1 − ε/r)(w − c) + c] for the family's radius r and center c; factor 1 where r has no
  // direction (r = 0) or ε/r would overflow (r subnormal): see the header
  if (fused_eps_shift_applies(out, w)) return fused_add_eps_shift_gradient_(out, w, family, eps, scale * lambda);
  auto rd = radial(*this, w);
  const double smallest_normal = w.scalar_type() == torch::kDouble ? std::numeric_limits<double>::min()
                                                                    : std::numeric_limits<float>::min();
  auto factor = torch::where(rd.radius >= smallest_normal, 1 - eps / rd.radius, torch::ones_like(rd.radius));
  auto g = factor * rd.offset + rd.center;
  out.add_(g.view(w.sizes()), scale * lambda);
}

void Regularizer::apply_decoupled_(torch::Tensor& w, double step) const {
  if (!active()) return;
  if (is_plain_l2(*this)) {
    w.mul_(1 - step * lambda);
    return;
  }
  add_gradient_(w, w, -step);  // ∂R/∂w is computed from w before w changes
}

std::string Regularizer::describe() const {
  std::ostringstream s;
  if (kind != RegKind::None && decoupled) s << "decoupled ";
  switch (kind) {
    case RegKind::None: return "none";
    case RegKind::L2: s << "l2(λ=" << lambda << ")"; break;
    case RegKind::EpsShifted:
      s << "eps-l2[" << family_name(family) << "](λ=" << lambda << ", ε=" << eps << ")";
      break;
  }
  return s.str();
}

}  // namespace eshift
