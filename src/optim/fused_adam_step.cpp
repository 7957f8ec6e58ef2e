#include "eshift/optim/fused_adam_step.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "eshift/nn/kernel_loops.h"
#include "eshift/regularize/eps_shift_row.h"

// The formulas are in the header. Compiled at -O3; the row kernel for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace adam_kernel {

std::atomic<bool> fused_enabled{true};

enum class Decay { None, L2, EpsShifted };  // what ∂R/∂p / λ is for a row

struct Step {
  double beta1, beta2, eps, lr, bias1, sqrt_bias2;  // β₁, β₂, e, η, 1 − β₁ᵗ, √(1 − β₂ᵗ)
  double lambda, shift;                             // λ, the regularizer's ε
  Decay decay;
  bool decoupled;
  WeightFamily family;
};

// Rows [first, last) of n elements; the last row of the tensor may be shorter (`total` elements in all).
template <typename T>
ESHIFT_INLINE void step_rows_body(T* p, const T* g, T* m, T* v, int64_t first, int64_t last, int64_t n, int64_t total,
                                  const Step& s) {
  const double c1 = 1 - s.beta1, c2 = 1 - s.beta2, rate = s.lr / s.bias1;
  for (int64_t o = first; o < last; ++o) {
    const int64_t len = std::min(n, total - o * n);
    T* pr = p + o * n;
    const T* gr = g + o * n;
    T* mr = m + o * n;
    T* vr = v + o * n;
    // ∂R/∂p = λ·shift(p): the ε-shifted filter's, or p itself (L2); into g' (coupled) or onto p
    const kernel::FilterShift shift =
        s.decay == Decay::EpsShifted ? kernel::eps_shift_row(pr, len, s.family, s.shift) : kernel::FilterShift{};
    const double decay = s.decay == Decay::None ? 0.0 : s.lambda;
    const double coupled = s.decoupled ? 0.0 : decay, decoupled = s.decoupled ? s.lr * decay : 0.0;
    for (int64_t j = 0; j < len; ++j) {
      const double pj = double(pr[j]);
      const double rj = decay == 0.0 ? 0.0 : shift(pj);
      const double gj = double(gr[j]) + coupled * rj;
      const T mj = T(s.beta1 * double(mr[j]) + c1 * gj);
      const T vj = T(s.beta2 * double(vr[j]) + c2 * gj * gj);
      mr[j] = mj;
      vr[j] = vj;
      const double denom = std::sqrt(double(vj)) / s.sqrt_bias2 + s.eps;
      pr[j] = T(pj - decoupled * rj - rate * double(mj) / denom);
    }
  }
}

ESHIFT_CPU_CLONES void step_rows(float* p, const float* g, float* m, float* v, int64_t first, int64_t last, int64_t n,
                                 int64_t total, const Step& s) {
  step_rows_body(p, g, m, v, first, last, n, total, s);
}
ESHIFT_CPU_CLONES void step_rows(double* p, const double* g, double* m, double* v, int64_t first, int64_t last,
                                 int64_t n, int64_t total, const Step& s) {
  step_rows_body(p, g, m, v, first, last, n, total, s);
}

constexpr int64_t kPlainRow = 4096;  // rows without a filter structure (no ε-shift)

bool same_layout(const torch::Tensor& t, const torch::Tensor& p) {
  return t.defined() && t.device() == p.device() && t.scalar_type() == p.scalar_type() && t.sizes() == p.sizes() &&
         t.strides() == p.strides() && !t.is_same(p);
}

}  // namespace adam_kernel

bool fused_adam_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& m,
                             const torch::Tensor& v, const RegularizedAdamOptions& o) {
  const Regularizer& reg = o.regularizer();
  const bool eps_shifted = reg.active() && reg.kind == RegKind::EpsShifted && reg.eps != 0;
  return adam_kernel::fused_enabled && !o.trust_ratio() && o.projection() == Projection::Off && p.device().is_cpu() &&
         (p.scalar_type() == torch::kFloat32 || p.scalar_type() == torch::kFloat64) && p.numel() > 0 &&
         kernel::filters_consecutive(p) && adam_kernel::same_layout(grad, p) && adam_kernel::same_layout(m, p) &&
         adam_kernel::same_layout(v, p) && !m.is_same(v) && !m.is_same(grad) && !v.is_same(grad) &&
         (!eps_shifted || p.dim() >= 2);
}

void fused_adam_step_(torch::Tensor& p, const torch::Tensor& grad, int64_t step, torch::Tensor& m, torch::Tensor& v,
                      const RegularizedAdamOptions& o) {
  TORCH_CHECK(fused_adam_step_applies(p, grad, m, v, o), "the fused Adam step does not apply to a ", p.scalar_type(),
              " parameter of shape ", p.sizes(), " with ", o.regularizer().describe());
  TORCH_CHECK(step >= 1, "the fused Adam step counts steps from 1, got ", step);
  RECORD_USER_SCOPE("eshift::adam_step");
  const Regularizer& reg = o.regularizer();
  using adam_kernel::Decay;
  const double t = static_cast<double>(step);
  adam_kernel::Step s{o.beta1(), o.beta2(), o.eps(), o.lr(), 1 - std::pow(o.beta1(), t),
                      std::sqrt(1 - std::pow(o.beta2(), t)), reg.lambda, reg.eps, Decay::None, reg.decoupled,
                      reg.family};
  if (reg.active()) s.decay = reg.kind == RegKind::EpsShifted && reg.eps != 0 ? Decay::EpsShifted : Decay::L2;
  const int64_t total = p.numel();
  // a row per filter for the ε-shift (its center and radius), else chunks of kPlainRow elements
  const int64_t n = s.decay == Decay::EpsShifted ? total / p.size(0) : std::min(total, adam_kernel::kPlainRow);
  const int64_t rows = (total + n - 1) / n;
  const bool ws = reg.family != WeightFamily::CWN && reg.family != WeightFamily::WN;  // None is read as WS
  TORCH_CHECK(s.decay != Decay::EpsShifted || !ws || n >= 2,
              "the WS ε-shifted regularizer needs a fan-in of at least 2, got shape ", p.sizes());
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "fused_adam_step", [&] {
    scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    scalar_t* mp = m.data_ptr<scalar_t>();
    scalar_t* vp = v.data_ptr<scalar_t>();
    kernel::parallel_rows(rows, n, [&](int64_t first, int64_t last) {
      adam_kernel::step_rows(pp, gp, mp, vp, first, last, n, total, s);
    });
  });
}

void set_fused_adam_step(bool enabled) { adam_kernel::fused_enabled = enabled; }
bool fused_adam_step_enabled() { return adam_kernel::fused_enabled; }

}  // namespace eshift
