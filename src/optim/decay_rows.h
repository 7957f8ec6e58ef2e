#pragma once
// How the fused optimizer steps (fused_sgd_step.cpp, fused_adam_step.cpp) walk a parameter: the
// decay each row gets and the rows. The ε-shifted regularizer needs a row per filter (its center and
// radius: regularize/eps_shift_row.h); L2 and no decay take chunks of kPlainRow elements.
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "eshift/nn/kernel_loops.h"
#include "eshift/regularize/eps_shift_row.h"
#include "eshift/regularize/regularizer.h"

namespace eshift::kernel {

enum class Decay { None, L2, EpsShifted };

inline constexpr int64_t kPlainRow = 4096;

// ε-shifted with ε ≠ 0 (with ε = 0 it is L2: regularizer.h)
inline bool eps_shifted(const Regularizer& reg) {
  return reg.active() && reg.kind == RegKind::EpsShifted && reg.eps != 0;
}

// What both kernels need of the parameter: float32/float64 on the CPU, not empty, each filter's
// elements consecutive, and a filter structure (dim ≥ 2) for the ε-shift.
inline bool step_kernel_takes(const torch::Tensor& p, const Regularizer& reg) {
  return p.device().is_cpu() && (p.scalar_type() == torch::kFloat32 || p.scalar_type() == torch::kFloat64) &&
         p.numel() > 0 && filters_consecutive(p) && (!eps_shifted(reg) || p.dim() >= 2);
}

// A gradient or state tensor the kernels read beside p: defined, with p's device, type, shape and
// strides, and not p itself.
inline bool same_layout(const torch::Tensor& t, const torch::Tensor& p) {
  return t.defined() && t.device() == p.device() && t.scalar_type() == p.scalar_type() && t.sizes() == p.sizes() &&
         t.strides() == p.strides() && !t.is_same(p);
}

struct DecayRows {
  Decay decay = Decay::None;
  double lambda = 0, eps = 0;
  WeightFamily family = WeightFamily::WS;
  int64_t n = 0, rows = 0, total = 0;  // rows of n elements; the last may be shorter (total in all)

  int64_t length(int64_t row) const { return std::min(n, total - row * n); }
  // ∂R/∂p = strength()·shift(p) on a row: the filter's ε-shift, p itself for L2; strength 0 without decay
  double strength() const { return decay == Decay::None ? 0.0 : lambda; }
  template <typename T>
  ESHIFT_INLINE FilterShift shift(const T* row, int64_t len) const {
    return decay == Decay::EpsShifted ? eps_shift_row(row, len, family, eps) : FilterShift{};
  }
};

inline DecayRows decay_rows(const torch::Tensor& p, const Regularizer& reg) {
  DecayRows d;
  d.decay = !reg.active() ? Decay::None : eps_shifted(reg) ? Decay::EpsShifted : Decay::L2;
  d.lambda = reg.lambda;
  d.eps = reg.eps;
  d.family = reg.family;
  d.total = p.numel();
  d.n = d.decay == Decay::EpsShifted ? d.total / p.size(0) : std::min(d.total, kPlainRow);
  d.rows = (d.total + d.n - 1) / d.n;
  const bool ws = reg.family != WeightFamily::CWN && reg.family != WeightFamily::WN;  // None is read as WS
  TORCH_CHECK(d.decay != Decay::EpsShifted || !ws || d.n >= 2,
              "the WS ε-shifted regularizer needs a fan-in of at least 2, got shape ", p.sizes());
  return d;
}

}  // namespace eshift::kernel
