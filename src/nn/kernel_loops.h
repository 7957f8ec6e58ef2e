#pragma once
// What eshift's hand-written CPU kernels share (nn/batch_norm_act.cpp, nn/fused_weight_standardization.cpp,
// regularize/fused_eps_shift.cpp): per-instruction-set clones, and row sums in double that vectorize
// without -ffast-math, and the per-filter kernels' layout test and row chunks.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>

// An entry point compiled for x86-64-v4 (AVX-512 F/BW/DQ/VL), AVX2 and the x86-64 baseline; the
// loader picks the best one the CPU supports (GCC's function multiversioning). x86-64-v4 rather than
// AVX-512 F alone: bfloat16 conversions need BW (BM_BatchNormReLU bfloat16: 15–30 % faster).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ESHIFT_CPU_CLONES __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#else
#define ESHIFT_CPU_CLONES
#endif
// Inlined into its caller, and so compiled for the caller's instruction set.
#define ESHIFT_INLINE inline __attribute__((always_inline))

namespace eshift::kernel {

// Σ term(j) for j in [0, n), in double: kLanes independent accumulators, added in a fixed order at
// the end. The loop vectorizes without reassociating, and the result does not depend on threads.
constexpr int kLanes = 8;
template <typename Term>
ESHIFT_INLINE double lane_sum(int64_t n, Term term) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  for (; j < n; ++j) acc[0] += term(j);
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Whether each output filter of t (a row of its [out, n] view) occupies n consecutive elements:
// contiguous, or a channels-last 4-D conv weight. The per-filter kernels need it.
inline bool filters_consecutive(const at::Tensor& t) {
  return t.is_contiguous() || (t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast));
}

// fn(first, last) over filter rows [0, rows) of n elements each, in parallel chunks of about 32 K elements.
template <typename Fn>
void parallel_rows(int64_t rows, int64_t n, Fn fn) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n)), fn);
}

}  // namespace eshift::kernel
