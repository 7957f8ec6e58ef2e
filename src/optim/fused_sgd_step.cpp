#include "eshift/optim/fused_sgd_step.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>

#include "eshift/nn/kernel_loops.h"
#include "eshift/regularize/eps_shift_row.h"

// The formulas are in the header. Compiled at -O3; the row kernel for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace sgd_kernel {

std::atomic<bool> fused_enabled{true};

// What ∂R/∂p / λ is for a row: the ε-shifted affine map, p itself (L2) or nothing.
enum class Decay { None, L2, EpsShifted };

struct Step {
  double momentum, scale, lr, lambda, eps;  // α, s = 1 − dampening, η, λ, ε
  Decay decay;
  WeightFamily family;
};

// Rows [first, last) of n elements; the last row of the tensor may be shorter (`total` elements in all).
template <typename T>
ESHIFT_INLINE void step_rows_body(T* p, const T* g, T* buf, int64_t first, int64_t last, int64_t n, int64_t total,
                                  const Step& s) {
  for (int64_t o = first; o < last; ++o) {
    const int64_t len = std::min(n, total - o * n);
    T* pr = p + o * n;
    const T* gr = g + o * n;
    T* br = buf + o * n;
    // ∂R/∂p = λ·shift(p): the ε-shifted filter's, or p itself (L2)
    const kernel::FilterShift shift =
        s.decay == Decay::EpsShifted ? kernel::eps_shift_row(pr, len, s.family, s.eps) : kernel::FilterShift{};
    const double decay = s.decay == Decay::None ? 0.0 : s.lambda;
    for (int64_t j = 0; j < len; ++j) {
      const double pj = double(pr[j]);
      const double dj = decay == 0.0 ? 0.0 : decay * shift(pj);
      const T u = T(s.momentum * double(br[j]) + s.scale * (double(gr[j]) + dj));
      br[j] = u;
      pr[j] = T(pj - s.lr * double(u));
    }
  }
}

ESHIFT_CPU_CLONES void step_rows(float* p, const float* g, float* buf, int64_t first, int64_t last, int64_t n,
                                 int64_t total, const Step& s) {
  step_rows_body(p, g, buf, first, last, n, total, s);
}
ESHIFT_CPU_CLONES void step_rows(double* p, const double* g, double* buf, int64_t first, int64_t last, int64_t n,
                                 int64_t total, const Step& s) {
  step_rows_body(p, g, buf, first, last, n, total, s);
}

// Rows without a filter structure (no ε-shift): chunks of this many elements.
constexpr int64_t kPlainRow = 4096;

}  // namespace sgd_kernel

bool fused_sgd_step_applies(const torch::Tensor& p, const torch::Tensor& grad, const torch::Tensor& momentum_buffer,
                            const RegularizedSGDOptions& o) {
  const Regularizer& reg = o.regularizer();
  const bool eps_shifted = reg.active() && reg.kind == RegKind::EpsShifted && reg.eps != 0;
  return sgd_kernel::fused_enabled && o.momentum() > 0 && !o.nesterov() && o.trust_coefficient() == 0 &&
         o.projection() == Projection::Off && (!reg.active() || !reg.decoupled) && momentum_buffer.defined() &&
         grad.defined() && p.device().is_cpu() &&
         (p.scalar_type() == torch::kFloat32 || p.scalar_type() == torch::kFloat64) && p.numel() > 0 &&
         grad.device() == p.device() && momentum_buffer.device() == p.device() &&
         grad.scalar_type() == p.scalar_type() && momentum_buffer.scalar_type() == p.scalar_type() &&
         grad.sizes() == p.sizes() && momentum_buffer.sizes() == p.sizes() && grad.strides() == p.strides() &&
         momentum_buffer.strides() == p.strides() && kernel::filters_consecutive(p) &&
         !p.is_same(grad) && !momentum_buffer.is_same(grad) && !momentum_buffer.is_same(p) &&
         (!eps_shifted || p.dim() >= 2);
}

void fused_sgd_step_(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& momentum_buffer,
                     const RegularizedSGDOptions& o) {
  TORCH_CHECK(fused_sgd_step_applies(p, grad, momentum_buffer, o), "the fused SGD step does not apply to a ",
              p.scalar_type(), " parameter of shape ", p.sizes(), " with ", o.regularizer().describe());
  RECORD_USER_SCOPE("eshift::sgd_step");
  const Regularizer& reg = o.regularizer();
  using sgd_kernel::Decay;
  sgd_kernel::Step s{o.momentum(), 1 - o.dampening(), o.lr(), reg.lambda, reg.eps, Decay::None, reg.family};
  if (reg.active()) s.decay = reg.kind == RegKind::EpsShifted && reg.eps != 0 ? Decay::EpsShifted : Decay::L2;
  const int64_t total = p.numel();
  // a row per filter for the ε-shift (its center and radius), else chunks of kPlainRow elements
  const int64_t n = s.decay == Decay::EpsShifted ? total / p.size(0) : std::min(total, sgd_kernel::kPlainRow);
  const int64_t rows = (total + n - 1) / n;
  const bool ws = reg.family != WeightFamily::CWN && reg.family != WeightFamily::WN;  // None is read as WS
  TORCH_CHECK(s.decay != Decay::EpsShifted || !ws || n >= 2,
              "the WS ε-shifted regularizer needs a fan-in of at least 2, got shape ", p.sizes());
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "fused_sgd_step", [&] {
    scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    scalar_t* bp = momentum_buffer.data_ptr<scalar_t>();
    kernel::parallel_rows(rows, n, [&](int64_t first, int64_t last) {
      sgd_kernel::step_rows(pp, gp, bp, first, last, n, total, s);
    });
  });
}

void set_fused_sgd_step(bool enabled) { sgd_kernel::fused_enabled = enabled; }
bool fused_sgd_step_enabled() { return sgd_kernel::fused_enabled; }

}  // namespace eshift
