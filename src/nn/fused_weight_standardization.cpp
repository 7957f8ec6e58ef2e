#include "eshift/nn/fused_weight_standardization.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <atomic>
#include <cmath>

#include "eshift/nn/kernel_loops.h"

// The formulas are in the header. Compiled at -O3; the row kernels for each instruction set.
namespace eshift {

// named (not anonymous): the Python package compiles eshift's sources as one unit
namespace ws_kernel {

std::atomic<bool> fused_enabled{true};

using kernel::lane_sum;
using kernel::parallel_rows;

// Rows [first, last) of the forward: out = (w − μ)/d, and each row's μ, d and q (stats rows 0, 1, 2).
template <typename T>
ESHIFT_INLINE void forward_rows_body(const T* w, T* out, double* stats, int64_t rows, int64_t first, int64_t last,
                                     int64_t K, double delta, bool inside) {
  for (int64_t o = first; o < last; ++o) {
    const T* __restrict x = w + o * K;
    T* __restrict y = out + o * K;
    const double mu = lane_sum(K, [&](int64_t j) { return double(x[j]); }) / double(K);
    const double ss = lane_sum(K, [&](int64_t j) { return (double(x[j]) - mu) * (double(x[j]) - mu); });
    double d, q;
    if (inside) {
      d = std::sqrt(ss / double(K) + delta);
      q = 1.0 / (d * double(K));
    } else {
      const double s = std::sqrt(ss / double(K - 1));
      d = s + delta;
      q = 1.0 / (s * double(K - 1));
    }
    const double inv = 1.0 / d;
    for (int64_t j = 0; j < K; ++j) y[j] = T((double(x[j]) - mu) * inv);
    stats[o] = mu, stats[rows + o] = d, stats[2 * rows + o] = q;
  }
}

// Rows [first, last) of the backward.
template <typename T>
ESHIFT_INLINE void backward_rows_body(const T* g, const T* w, T* dw, const double* stats, int64_t rows,
                                      int64_t first, int64_t last, int64_t K) {
  for (int64_t o = first; o < last; ++o) {
    const T* __restrict gr = g + o * K;
    const T* __restrict x = w + o * K;
    T* __restrict out = dw + o * K;
    const double mu = stats[o], d = stats[rows + o], q = stats[2 * rows + o];
    const double sum_g = lane_sum(K, [&](int64_t j) { return double(gr[j]); });
    const double sum_gc = lane_sum(K, [&](int64_t j) { return double(gr[j]) * (double(x[j]) - mu); });
    const double inv = 1.0 / d, mean_g = sum_g / double(K), k = sum_gc * q / (d * d);
    for (int64_t j = 0; j < K; ++j) out[j] = T((double(gr[j]) - mean_g) * inv - (double(x[j]) - mu) * k);
  }
}

// One entry point per type, compiled for each instruction set.
#define ESHIFT_KERNELS(T)                                                                                            \
  ESHIFT_CPU_CLONES void forward_rows(const T* w, T* out, double* stats, int64_t rows, int64_t first, int64_t last,  \
                                      int64_t K, double delta, bool inside) {                                        \
    forward_rows_body(w, out, stats, rows, first, last, K, delta, inside);                                          \
  }                                                                                                                  \
  ESHIFT_CPU_CLONES void backward_rows(const T* g, const T* w, T* dw, const double* stats, int64_t rows,            \
                                       int64_t first, int64_t last, int64_t K) {                                     \
    backward_rows_body(g, w, dw, stats, rows, first, last, K);                                                       \
  }
ESHIFT_KERNELS(float)
ESHIFT_KERNELS(double)
#undef ESHIFT_KERNELS

// The weight's filters each K consecutive elements: its own layout (contiguous or channels-last).
at::MemoryFormat row_layout(const torch::Tensor& w) {
  return w.is_contiguous() ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
}

struct StandardizeWeightFunction : public torch::autograd::Function<StandardizeWeightFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w, double delta,
                               bool inside) {
    RECORD_USER_SCOPE("eshift::standardize_weight_forward");
    const int64_t O = w.size(0), K = w.numel() / O;
    auto out = torch::empty_like(w, w.options(), row_layout(w));
    auto stats = torch::empty({3, O}, w.options().dtype(torch::kFloat64));  // rows μ, d, q
    double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "standardize_weight_forward", [&] {
      const scalar_t* wp = w.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      parallel_rows(O, K, [&](int64_t first, int64_t last) {
        forward_rows(wp, op, st, O, first, last, K, delta, inside);
      });
    });
    ctx->save_for_backward({w});
    ctx->saved_data["stats"] = stats;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    RECORD_USER_SCOPE("eshift::standardize_weight_backward");
    const auto w = ctx->get_saved_variables()[0];
    const auto stats = ctx->saved_data["stats"].toTensor();
    const int64_t O = w.size(0), K = w.numel() / O;
    const auto g = grad_outputs[0].to(w.scalar_type()).contiguous(row_layout(w));
    auto dw = torch::empty_like(w, w.options(), row_layout(w));
    const double* st = stats.data_ptr<double>();
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "standardize_weight_backward", [&] {
      const scalar_t *gp = g.data_ptr<scalar_t>(), *wp = w.data_ptr<scalar_t>();
      scalar_t* dp = dw.data_ptr<scalar_t>();
      parallel_rows(O, K, [&](int64_t first, int64_t last) {
        backward_rows(gp, wp, dp, st, O, first, last, K);
      });
    });
    return {dw, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace ws_kernel

bool fused_weight_standardization_applies(const torch::Tensor& w) {
  return ws_kernel::fused_enabled && w.device().is_cpu() && w.dim() >= 2 &&
         (w.scalar_type() == torch::kFloat32 || w.scalar_type() == torch::kFloat64) &&
         kernel::filters_consecutive(w);
}

torch::Tensor fused_standardize_weight(const torch::Tensor& w, double delta, bool delta_inside_sqrt) {
  TORCH_CHECK(fused_weight_standardization_applies(w), "fused weight standardization does not apply to a ",
              w.scalar_type(), " weight of shape ", w.sizes(), " on ", w.device());
  TORCH_CHECK(w.numel() / std::max<int64_t>(1, w.size(0)) >= 2,
              "weight standardization needs a fan-in of at least 2, got shape ", w.sizes());
  return ws_kernel::StandardizeWeightFunction::apply(w, delta, delta_inside_sqrt);
}

void set_fused_weight_standardization(bool enabled) { ws_kernel::fused_enabled = enabled; }
bool fused_weight_standardization_enabled() { return ws_kernel::fused_enabled; }

}  // namespace eshift
