#pragma once
// One filter's ε-shifted gradient (regularizer.h) from its center and factor, for the CPU kernels
// that apply it (regularize/fused_eps_shift.cpp, optim/fused_sgd_step.cpp, optim/fused_adam_step.cpp):
//
//   ∂R/∂w / λ = f·(w − c) + c
//   WS (and None) c = μ, r = σ (unbiased);  CWN  c = μ, r = ‖w − μ‖;  WN  c = 0, r = ‖w‖
//   f = 1 − ε/r, or 1 where r is below the smallest normal number of w's type (a filter without
//   a radius: regularizer.h)
//
// Sums in double over the filter's n consecutive elements, two passes (mean, then squared offsets).
// Evaluated as written, not as the affine a·w + b (a = f, b = c(1 − f)): for a radius far below the
// filter's values, f is large and a·w and b cancel to a small fraction of their size (a WS filter of
// two almost equal weights, r = 1e-8 at w = 0.01, ε = 0.2: a·w ≈ 2e5 for a result of 0.14).
// L2 is {f = 1, c = 0}: f·(w − c) + c = w exactly.
#include <cmath>
#include <cstdint>
#include <limits>

#include "eshift/nn/family.h"
#include "eshift/nn/kernel_loops.h"

namespace eshift::kernel {

struct FilterShift {
  double f = 1, c = 0;
  double operator()(double w) const { return f * (w - c) + c; }
};

template <typename T>
ESHIFT_INLINE FilterShift eps_shift_row(const T* x, int64_t n, WeightFamily family, double eps) {
  const double smallest_normal = std::numeric_limits<T>::min();
  const double c = family == WeightFamily::WN ? 0.0 : lane_sum(n, [&](int64_t j) { return double(x[j]); }) / double(n);
  const double ss = lane_sum(n, [&](int64_t j) { return (double(x[j]) - c) * (double(x[j]) - c); });
  const bool ws = family != WeightFamily::CWN && family != WeightFamily::WN;  // None is read as WS (regularizer.h)
  const double r = ws ? std::sqrt(ss / double(n - 1)) : std::sqrt(ss);
  const double f = r >= smallest_normal ? 1 - eps / r : 1.0;
  return {f, c};
}

}  // namespace eshift::kernel
