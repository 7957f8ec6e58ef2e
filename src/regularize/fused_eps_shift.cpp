#include "eshift/regularize/fused_eps_shift.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <atomic>

#include "eshift/nn/kernel_loops.h"
#include "eshift/regularize/eps_shift_row.h"

// The formulas are in the header. Compiled at -O3; the row kernel for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace eps_kernel {

std::atomic<bool> fused_enabled{true};

// Rows [first, last). `out` may alias `w` (element j is read before it is written).
template <typename T>
ESHIFT_INLINE void add_rows_body(T* out, const T* w, int64_t first, int64_t last, int64_t n, WeightFamily family,
                                 double eps, double step) {
  for (int64_t o = first; o < last; ++o) {
    const T* x = w + o * n;
    T* y = out + o * n;
    const kernel::FilterShift shift = kernel::eps_shift_row(x, n, family, eps);
    for (int64_t j = 0; j < n; ++j) y[j] = T(double(y[j]) + step * shift(double(x[j])));
  }
}

ESHIFT_CPU_CLONES void add_rows(float* out, const float* w, int64_t first, int64_t last, int64_t n,
                                WeightFamily family, double eps, double step) {
  add_rows_body(out, w, first, last, n, family, eps, step);
}
ESHIFT_CPU_CLONES void add_rows(double* out, const double* w, int64_t first, int64_t last, int64_t n,
                                WeightFamily family, double eps, double step) {
  add_rows_body(out, w, first, last, n, family, eps, step);
}

}  // namespace eps_kernel

bool fused_eps_shift_applies(const torch::Tensor& out, const torch::Tensor& w) {
  return eps_kernel::fused_enabled && w.device().is_cpu() && out.device().is_cpu() && w.dim() >= 2 &&
         (w.scalar_type() == torch::kFloat32 || w.scalar_type() == torch::kFloat64) &&
         out.scalar_type() == w.scalar_type() && out.sizes() == w.sizes() && out.strides() == w.strides() &&
         kernel::filters_consecutive(w);
}

void fused_add_eps_shift_gradient_(torch::Tensor& out, const torch::Tensor& w, WeightFamily family, double eps,
                                   double step) {
  TORCH_CHECK(fused_eps_shift_applies(out, w), "the fused ε-shifted gradient does not apply to a ", w.scalar_type(),
              " weight of shape ", w.sizes(), " and a ", out.scalar_type(), " output of shape ", out.sizes());
  RECORD_USER_SCOPE("eshift::eps_shift_gradient");
  const int64_t rows = w.size(0), n = w.numel() / std::max<int64_t>(1, rows);
  TORCH_CHECK(family != WeightFamily::WS || n >= 2,
              "the WS ε-shifted regularizer needs a fan-in of at least 2, got shape ", w.sizes());
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "eps_shift_gradient", [&] {
    scalar_t* op = out.data_ptr<scalar_t>();
    const scalar_t* wp = w.data_ptr<scalar_t>();
    kernel::parallel_rows(rows, n, [&](int64_t first, int64_t last) {
      eps_kernel::add_rows(op, wp, first, last, n, family, eps, step);
    });
  });
}

void set_fused_eps_shift(bool enabled) { eps_kernel::fused_enabled = enabled; }
bool fused_eps_shift_enabled() { return eps_kernel::fused_enabled; }

}  // namespace eshift
