#include "eshift/optim/fused_sgd_step.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <atomic>

#include "eshift/nn/kernel_loops.h"
#include "eshift/optim/decay_rows.h"

// The formulas are in the header. Compiled at -O3; the row kernel for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace sgd_kernel {

std::atomic<bool> fused_enabled{true};

struct Step {
  double momentum, scale, lr;  // α, s = 1 − dampening, η
  kernel::DecayRows decay;
};

// Rows [first, last) of the parameter.
template <typename T>
ESHIFT_INLINE void step_rows_body(T* p, const T* g, T* buf, int64_t first, int64_t last, const Step& s) {
  const kernel::DecayRows& d = s.decay;
  const double lambda = d.strength();
  for (int64_t o = first; o < last; ++o) {
    const int64_t len = d.length(o);
    T* pr = p + o * d.n;
    const T* gr = g + o * d.n;
    T* br = buf + o * d.n;
    const kernel::FilterShift shift = d.shift(pr, len);  // ∂R/∂p = λ·shift(p), from p before it changes
    for (int64_t j = 0; j < len; ++j) {
      const double pj = double(pr[j]);
      const double dj = lambda == 0.0 ? 0.0 : lambda * shift(pj);
      const T u = T(s.momentum * double(br[j]) + s.scale * (double(gr[j]) + dj));
      br[j] = u;
      pr[j] = T(pj - s.lr * double(u));
    }
  }
}

ESHIFT_CPU_CLONES void step_rows(float* p, const float* g, float* buf, int64_t first, int64_t last, const Step& s) {
  step_rows_body(p, g, buf, first, last, s);
}
ESHIFT_CPU_CLONES void step_rows(double* p, const double* g, double* buf, int64_t first, int64_t last,
                                 const Step& s) {
  step_rows_body(p, g, buf, first, last, s);
}

}  // namespace sgd_kernel

bool fused_sgd_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& momentum_buffer,
                            const RegularizedSGDOptions& o) {
  const Regularizer& reg = o.regularizer();
  return sgd_kernel::fused_enabled && o.momentum() > 0 && !o.nesterov() && o.trust_coefficient() == 0 &&
         o.projection() == Projection::Off && (!reg.active() || !reg.decoupled) &&
         kernel::step_kernel_takes(p, reg) && kernel::same_layout(grad, p) && kernel::same_layout(momentum_buffer, p) &&
         !momentum_buffer.is_same(grad);
}

void fused_sgd_step_(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& momentum_buffer,
                     const RegularizedSGDOptions& o) {
  TORCH_CHECK(fused_sgd_step_applies(p, grad, momentum_buffer, o), "the fused SGD step does not apply to a ",
              p.scalar_type(), " parameter of shape ", p.sizes(), " with ", o.regularizer().describe());
  RECORD_USER_SCOPE("eshift::sgd_step");
  const sgd_kernel::Step s{o.momentum(), 1 - o.dampening(), o.lr(), kernel::decay_rows(p, o.regularizer())};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "fused_sgd_step", [&] {
    scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    scalar_t* bp = momentum_buffer.data_ptr<scalar_t>();
    kernel::parallel_rows(s.decay.rows, s.decay.n, [&](int64_t first, int64_t last) {
      sgd_kernel::step_rows(pp, gp, bp, first, last, s);
    });
  });
}

void set_fused_sgd_step(bool enabled) { sgd_kernel::fused_enabled = enabled; }
bool fused_sgd_step_enabled() { return sgd_kernel::fused_enabled; }

}  // namespace eshift
