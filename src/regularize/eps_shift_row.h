#pragma once
// One filter's ε-shifted gradient (regularizer.h) as an affine map of its own weights, for the CPU
// kernels that apply it (regularize/fused_eps_shift.cpp, optim/fused_sgd_step.cpp):
//
//   ∂R/∂w / λ = f·(w − c) + c = a·w + b,   a = f,  b = c·(1 − f)
//   WS (and None) c = μ, r = σ (unbiased);  CWN  c = μ, r = ‖w − μ‖;  WN  c = 0, r = ‖w‖
//   f = 1 − ε/r, or 1 where r is below the smallest normal number of w's type (a filter without
//   a radius: regularizer.h)
//
// Sums in double over the filter's n consecutive elements, two passes (mean, then squared offsets).
#include <cmath>
#include <cstdint>
#include <limits>

#include "eshift/nn/family.h"
#include "eshift/nn/kernel_loops.h"

namespace eshift::kernel {

struct AffineRow {
  double a, b;
};

template <typename T>
ESHIFT_INLINE AffineRow eps_shift_row(const T* x, int64_t n, WeightFamily family, double eps) {
  const double smallest_normal = std::numeric_limits<T>::min();
  const double c = family == WeightFamily::WN ? 0.0 : lane_sum(n, [&](int64_t j) { return double(x[j]); }) / double(n);
  const double ss = lane_sum(n, [&](int64_t j) { return (double(x[j]) - c) * (double(x[j]) - c); });
  const bool ws = family != WeightFamily::CWN && family != WeightFamily::WN;  // None is read as WS (regularizer.h)
  const double r = ws ? std::sqrt(ss / double(n - 1)) : std::sqrt(ss);
  const double f = r >= smallest_normal ? 1 - eps / r : 1.0;
  return {f, c * (1 - f)};
}

}  // namespace eshift::kernel
