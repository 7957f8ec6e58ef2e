#include "eshift/optim/fused_adam_step.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <atomic>
#include <cmath>

#include "eshift/nn/kernel_loops.h"
#include "eshift/optim/decay_rows.h"

// The formulas are in the header. Compiled at -O3; the row kernel for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace adam_kernel {

std::atomic<bool> fused_enabled{true};

struct Step {
  double beta1, beta2, eps, lr, bias1, sqrt_bias2;  // β₁, β₂, e, η, 1 − β₁ᵗ, √(1 − β₂ᵗ)
  bool decoupled;
  kernel::DecayRows decay;
};

// Rows [first, last) of the parameter.
template <typename T>
ESHIFT_INLINE void step_rows_body(T* p, const T* g, T* m, T* v, int64_t first, int64_t last, const Step& s) {
  const kernel::DecayRows& d = s.decay;
  const double c1 = 1 - s.beta1, c2 = 1 - s.beta2, rate = s.lr / s.bias1;
  const double lambda = d.strength();
  // ∂R/∂p = λ·shift(p), into g' (coupled) or onto p (decoupled)
  const double coupled = s.decoupled ? 0.0 : lambda, decoupled = s.decoupled ? s.lr * lambda : 0.0;
  for (int64_t o = first; o < last; ++o) {
    const int64_t len = d.length(o);
    T* pr = p + o * d.n;
    const T* gr = g + o * d.n;
    T* mr = m + o * d.n;
    T* vr = v + o * d.n;
    const kernel::FilterShift shift = d.shift(pr, len);  // from p before it changes
    for (int64_t j = 0; j < len; ++j) {
      const double pj = double(pr[j]);
      const double rj = lambda == 0.0 ? 0.0 : shift(pj);
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

ESHIFT_CPU_CLONES void step_rows(float* p, const float* g, float* m, float* v, int64_t first, int64_t last,
                                 const Step& s) {
  step_rows_body(p, g, m, v, first, last, s);
}
ESHIFT_CPU_CLONES void step_rows(double* p, const double* g, double* m, double* v, int64_t first, int64_t last,
                                 const Step& s) {
  step_rows_body(p, g, m, v, first, last, s);
}

}  // namespace adam_kernel

bool fused_adam_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& m,
                             const torch::Tensor& v, const RegularizedAdamOptions& o) {
  return adam_kernel::fused_enabled && !o.trust_ratio() && o.projection() == Projection::Off &&
         kernel::step_kernel_takes(p, o.regularizer()) && kernel::same_layout(grad, p) && kernel::same_layout(m, p) &&
         kernel::same_layout(v, p) && !m.is_same(v) && !m.is_same(grad) && !v.is_same(grad);
}

void fused_adam_step_(torch::Tensor& p, const torch::Tensor& grad, int64_t step, torch::Tensor& m, torch::Tensor& v,
                      const RegularizedAdamOptions& o) {
  TORCH_CHECK(fused_adam_step_applies(p, grad, m, v, o), "the fused Adam step does not apply to a ", p.scalar_type(),
              " parameter of shape ", p.sizes(), " with ", o.regularizer().describe());
  TORCH_CHECK(step >= 1, "the fused Adam step counts steps from 1, got ", step);
  RECORD_USER_SCOPE("eshift::adam_step");
  const Regularizer& reg = o.regularizer();
  const double t = static_cast<double>(step);
  const adam_kernel::Step s{o.beta1(), o.beta2(), o.eps(), o.lr(), 1 - std::pow(o.beta1(), t),
                            std::sqrt(1 - std::pow(o.beta2(), t)), reg.active() && reg.decoupled,
                            kernel::decay_rows(p, reg)};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "fused_adam_step", [&] {
    scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    scalar_t* mp = m.data_ptr<scalar_t>();
    scalar_t* vp = v.data_ptr<scalar_t>();
    kernel::parallel_rows(s.decay.rows, s.decay.n, [&](int64_t first, int64_t last) {
      adam_kernel::step_rows(pp, gp, mp, vp, first, last, s);
    });
  });
}

void set_fused_adam_step(bool enabled) { adam_kernel::fused_enabled = enabled; }
bool fused_adam_step_enabled() { return adam_kernel::fused_enabled; }

}  // namespace eshift
