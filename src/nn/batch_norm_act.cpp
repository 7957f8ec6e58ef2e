#include "eshift/nn/batch_norm_act.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "eshift/nn/kernel_loops.h"

// The kernels below treat a channels-last [N, C, H, W] tensor as an M × C row-major matrix
// (M = N·H·W rows, one per pixel). Per-channel sums end in double. Activations are stored as T
// and computed in A: float64 and float32 as themselves; bfloat16 (--amp bf16) computed in float32
// with float32 parameters, as LibTorch's mixed-type CPU BatchNorm, and each result rounded once to
// bfloat16 when stored. Each kernel is compiled for each instruction set (kernel_loops.h).
// This file is compiled with -ffp-contract=off so that the forward pass and the backward pass's
// recomputation of the ReLU mask round `x·a + b` identically.
namespace eshift {

namespace {

std::atomic<bool> fused_enabled{true};

// ---------------------------------------------------------------- kernels (rows of an M × C matrix)
//
// Each body is a template on the channel count: kC = 16, 32 or 64 (ResNet-20's widths) are compiled
// with C known, which keeps the per-channel sums of a row block in vector registers (3× faster than
// sums kept in memory, where each row waits for the previous row's store); kC = 0 takes C at run time.
// The backward sums are accumulated in T over blocks of kBlockRows rows, then added into double sums
// (a loop body all in T vectorizes, with the ReLU mask as a select; one mixing float and double did not).
constexpr int64_t kBlockRows = 64;

template <typename T, int kC>
struct Block {  // per-channel partial sums of one row block
  explicit Block(int64_t C) : heap(kC ? 0 : 2 * C) {}
  T* first() { return kC ? local : heap.data(); }
  T local[kC ? 2 * kC : 1];
  std::vector<T> heap;
};

// sum[c] += Σ x[m, c], sumsq[c] += Σ x[m, c]², accumulated in double all the way: the variance is
// E[x²] − μ², which would lose digits to cancellation from sums rounded in float.
template <typename T, typename A, int kC>
ESHIFT_INLINE void channel_sums_body(const T* __restrict x, int64_t rows, int64_t C_runtime, double* __restrict sum,
                                     double* __restrict sumsq) {
  const int64_t C = kC ? kC : C_runtime;
  Block<double, kC> block(C);
  double* __restrict s = block.first();
  double* __restrict s2 = s + C;
  std::fill(s, s + 2 * C, 0.0);
  for (int64_t m = 0; m < rows; ++m) {
    const T* __restrict row = x + m * C;
    for (int64_t c = 0; c < C; ++c) {
      const double v = static_cast<A>(row[c]);
      s[c] += v;
      s2[c] += v * v;
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    sum[c] += s[c];
    sumsq[c] += s2[c];
  }
}

// The activation: relu(z) with `relu`, else z itself. NaN passes through like torch::relu. The flag is
// the same for a whole call: -O3 takes the test out of the loops (loop unswitching).
template <typename A>
ESHIFT_INLINE A activation(A z, bool relu) {
  return relu && z < A(0) ? A(0) : z;
}

// y = act(x·a + b [+ r])
template <typename T, typename A, int kC>
ESHIFT_INLINE void affine_act_body(const T* __restrict x, const T* __restrict r, T* __restrict y, int64_t rows,
                                   int64_t C_runtime, const A* __restrict a, const A* __restrict b, bool relu) {
  const int64_t C = kC ? kC : C_runtime;
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t o = m * C;
    if (r) {
      for (int64_t c = 0; c < C; ++c) y[o + c] = T(activation(A(x[o + c]) * a[c] + b[c] + A(r[o + c]), relu));
    } else {
      for (int64_t c = 0; c < C; ++c) y[o + c] = T(activation(A(x[o + c]) * a[c] + b[c], relu));
    }
  }
}

// The gradient through the activation, g' = g where the ReLU's input x·a + b was > 0, else 0 (recomputed
// from x); g' = g without ReLU. g is loaded unconditionally: a conditional load would block vectorization.
template <typename A>
ESHIFT_INLINE A through_activation(A g, A x, A a, A b, bool relu) {
  return !relu || x * a + b > A(0) ? g : A(0);
}

// Backward reduction. g' is the gradient through the activation: with ReLU, g where its input was
// > 0, else 0, the mask taken from y (> 0) when y is given (the ReLU + residual variant), else from
// x·a + b recomputed; without ReLU, g.
// sum_g[c] += Σ g', sum_gx[c] += Σ g'·x; g' is stored to `masked` when it is given (with y).
template <typename T, typename A, int kC>
ESHIFT_INLINE void masked_sums_body(const T* __restrict g, const T* __restrict x, const T* __restrict y,
                                    T* __restrict masked, int64_t rows, int64_t C_runtime, const A* __restrict a,
                                    const A* __restrict b, bool relu, double* __restrict sum_g,
                                    double* __restrict sum_gx) {
  const int64_t C = kC ? kC : C_runtime;
  Block<A, kC> block(C);
  A* __restrict bg = block.first();
  A* __restrict bgx = bg + C;
  for (int64_t m0 = 0; m0 < rows; m0 += kBlockRows) {
    std::fill(bg, bg + 2 * C, A(0));
    for (int64_t m = m0; m < std::min(rows, m0 + kBlockRows); ++m) {
      const int64_t o = m * C;
      if (y) {
        for (int64_t c = 0; c < C; ++c) {
          const A gv = A(g[o + c]);  // loaded unconditionally: a conditional load would block vectorization
          const A gm = A(y[o + c]) > A(0) ? gv : A(0);
          masked[o + c] = T(gm);  // exact: gm is g or 0
          bg[c] += gm;
          bgx[c] += gm * A(x[o + c]);
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          const A xv = A(x[o + c]);
          const A gm = through_activation(A(g[o + c]), xv, a[c], b[c], relu);
          bg[c] += gm;
          bgx[c] += gm * xv;
        }
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      sum_g[c] += bg[c];
      sum_gx[c] += bgx[c];
    }
  }
}

// dx = a·g' + k·(x − μ) + k0, with g' read from `masked` when given, else recomputed from g and x.
template <typename T, typename A, int kC>
ESHIFT_INLINE void input_grad_body(const T* __restrict g, const T* __restrict masked, const T* __restrict x,
                                   T* __restrict dx, int64_t rows, int64_t C_runtime, const A* __restrict a,
                                   const A* __restrict b, const A* __restrict mu, const A* __restrict k,
                                   const A* __restrict k0, bool relu) {
  const int64_t C = kC ? kC : C_runtime;
  for (int64_t m = 0; m < rows; ++m) {
    const int64_t o = m * C;
    if (masked) {
      for (int64_t c = 0; c < C; ++c)
        dx[o + c] = T(a[c] * A(masked[o + c]) + k[c] * (A(x[o + c]) - mu[c]) + k0[c]);
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const A xv = A(x[o + c]);
        const A gm = through_activation(A(g[o + c]), xv, a[c], b[c], relu);
        dx[o + c] = T(a[c] * gm + k[c] * (xv - mu[c]) + k0[c]);
      }
    }
  }
}

// One entry point per kernel and type, compiled for each instruction set (ESHIFT_CPU_CLONES), choosing
// the body with C fixed where it can. `C` is each parameter list's channel count.
#define ESHIFT_DISPATCH_C(body, T, A, ...)                                                                           \
  switch (C) {                                                                                                       \
    case 16: return body<T, A, 16>(__VA_ARGS__);                                                                     \
    case 32: return body<T, A, 32>(__VA_ARGS__);                                                                     \
    case 64: return body<T, A, 64>(__VA_ARGS__);                                                                     \
    default: return body<T, A, 0>(__VA_ARGS__);                                                                      \
  }
#define ESHIFT_KERNELS(T, A)                                                                                         \
  ESHIFT_CPU_CLONES void channel_sums(const T* x, int64_t rows, int64_t C, double* sum, double* sumsq) {             \
    ESHIFT_DISPATCH_C(channel_sums_body, T, A, x, rows, C, sum, sumsq)                                               \
  }                                                                                                                  \
  ESHIFT_CPU_CLONES void affine_act(const T* x, const T* r, T* y, int64_t rows, int64_t C, const A* a, const A* b, \
                                    bool relu) {                                                                     \
    ESHIFT_DISPATCH_C(affine_act_body, T, A, x, r, y, rows, C, a, b, relu)                                           \
  }                                                                                                                  \
  ESHIFT_CPU_CLONES void masked_sums(const T* g, const T* x, const T* y, T* masked, int64_t rows, int64_t C,         \
                                     const A* a, const A* b, bool relu, double* sum_g, double* sum_gx) {             \
    ESHIFT_DISPATCH_C(masked_sums_body, T, A, g, x, y, masked, rows, C, a, b, relu, sum_g, sum_gx)                   \
  }                                                                                                                  \
  ESHIFT_CPU_CLONES void input_grad(const T* g, const T* masked, const T* x, T* dx, int64_t rows, int64_t C,         \
                                    const A* a, const A* b, const A* mu, const A* k, const A* k0, bool relu) {       \
    ESHIFT_DISPATCH_C(input_grad_body, T, A, g, masked, x, dx, rows, C, a, b, mu, k, k0, relu)                       \
  }
ESHIFT_KERNELS(float, float)
ESHIFT_KERNELS(double, double)
ESHIFT_KERNELS(c10::BFloat16, float)
#undef ESHIFT_KERNELS
#undef ESHIFT_DISPATCH_C

// ---------------------------------------------------------------- threading

// Per-channel double sums over all M rows: one chunk of rows per thread, partial sums added in chunk
// order (the result does not depend on scheduling). `fn(begin, rows, sum_a, sum_b)`.
template <typename Fn>
void reduce_rows(int64_t M, int64_t C, std::vector<double>& sum_a, std::vector<double>& sum_b, Fn fn) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), M / 1024));
  std::vector<double> partial(2 * chunks * C, 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const int64_t begin = M * i / chunks, end = M * (i + 1) / chunks;
      fn(begin, end - begin, partial.data() + 2 * i * C, partial.data() + (2 * i + 1) * C);
    }
  });
  sum_a.assign(C, 0.0);
  sum_b.assign(C, 0.0);
  for (int64_t i = 0; i < chunks; ++i)
    for (int64_t c = 0; c < C; ++c) {
      sum_a[c] += partial[2 * i * C + c];
      sum_b[c] += partial[(2 * i + 1) * C + c];
    }
}

// `fn(begin, rows)` over all M rows in parallel.
template <typename Fn>
void map_rows(int64_t M, int64_t C, Fn fn) {
  kernel::parallel_rows(M, C, [&](int64_t begin, int64_t end) { fn(begin, end - begin); });
}

// ---------------------------------------------------------------- autograd function

constexpr auto kChannelsLast = at::MemoryFormat::ChannelsLast;

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Per-channel state saved by the forward pass for the backward pass (double, [4, C]).
enum StatsRow { kMean = 0, kInvStd = 1, kScale = 2, kShift = 3 };  // a = γ·invstd, b = β − μ·a

template <typename T, typename A>
torch::Tensor forward_impl(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& weight,
                           const torch::Tensor& bias, torch::Tensor& running_mean, torch::Tensor& running_var,
                           double momentum, double eps, bool relu, torch::Tensor& stats) {
  const int64_t C = x.size(1), M = x.numel() / C;
  const T* xp = x.data_ptr<T>();
  std::vector<double> sum, sumsq;
  reduce_rows(M, C, sum, sumsq, [&](int64_t begin, int64_t rows, double* s, double* s2) {
    channel_sums(xp + begin * C, rows, C, s, s2);
  });
  // biased variance for normalizing, unbiased for the running estimate (as torch.nn.BatchNorm2d)
  stats = torch::empty({4, C}, torch::kFloat64);
  double* st = stats.data_ptr<double>();
  const A *w = weight.data_ptr<A>(), *bi = bias.data_ptr<A>();
  A *rm = running_mean.data_ptr<A>(), *rv = running_var.data_ptr<A>();
  std::vector<double> a(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    const double mean = sum[c] / M, var = std::max(0.0, sumsq[c] / M - mean * mean);
    const double invstd = 1.0 / std::sqrt(var + eps);
    a[c] = w[c] * invstd;
    b[c] = bi[c] - mean * a[c];
    st[kMean * C + c] = mean, st[kInvStd * C + c] = invstd, st[kScale * C + c] = a[c], st[kShift * C + c] = b[c];
    rm[c] = A((1 - momentum) * rm[c] + momentum * mean);
    rv[c] = A((1 - momentum) * rv[c] + momentum * var * M / (M - 1));
  }
  const auto at = cast<A>(a), bt = cast<A>(b);
  torch::Tensor y = torch::empty(x.sizes(), x.options().memory_format(kChannelsLast));
  const T* rp = r.defined() ? r.data_ptr<T>() : nullptr;
  T* yp = y.data_ptr<T>();
  map_rows(M, C, [&](int64_t begin, int64_t rows) {
    affine_act(xp + begin * C, rp ? rp + begin * C : nullptr, yp + begin * C, rows, C, at.data(), bt.data(), relu);
  });
  return y;
}

// Returns dx, the masked g' (the residual's gradient; undefined unless y is given), dγ, dβ. y is
// given for the ReLU + residual variant, which takes its mask from it.
template <typename T, typename A>
torch::autograd::tensor_list backward_impl(const torch::Tensor& g, const torch::Tensor& x, const torch::Tensor& y,
                                           const torch::Tensor& weight, const torch::Tensor& stats, bool relu) {
  const int64_t C = x.size(1), M = x.numel() / C;
  const double* st = stats.data_ptr<double>();
  const double *mean = st + kMean * C, *invstd = st + kInvStd * C, *a = st + kScale * C, *b = st + kShift * C;
  const auto at = cast<A>({a, a + C}), bt = cast<A>({b, b + C});  // the forward pass's values, bit for bit
  torch::Tensor masked = y.defined() ? torch::empty(x.sizes(), x.options().memory_format(kChannelsLast)) : torch::Tensor();
  torch::Tensor dx = torch::empty(x.sizes(), x.options().memory_format(kChannelsLast));
  const T *gp = g.data_ptr<T>(), *xp = x.data_ptr<T>(), *yp = y.defined() ? y.data_ptr<T>() : nullptr;
  T* mp = masked.defined() ? masked.data_ptr<T>() : nullptr;

  std::vector<double> sum_g, sum_gx;
  {
    RECORD_USER_SCOPE("eshift::batch_norm_act_backward_sums");
    reduce_rows(M, C, sum_g, sum_gx, [&](int64_t begin, int64_t rows, double* s, double* s2) {
      const int64_t o = begin * C;
      masked_sums(gp + o, xp + o, yp ? yp + o : nullptr, mp ? mp + o : nullptr, rows, C, at.data(), bt.data(), relu,
                  s, s2);
    });
  }
  // dβ = Σ g', dγ = Σ g'·x̂ with x̂ = (x − μ)·invstd;
  // dx = γ·invstd·(g' − dβ/M − x̂·dγ/M) = a·g' + k·(x − μ) + k0, k = −a·invstd·dγ/M, k0 = −a·dβ/M
  torch::Tensor dgamma = torch::empty({C}, weight.options()), dbeta = torch::empty({C}, weight.options());
  A *dgp = dgamma.data_ptr<A>(), *dbp = dbeta.data_ptr<A>();
  std::vector<A> k(C), k0(C), mu(C);
  for (int64_t c = 0; c < C; ++c) {
    const double dg = invstd[c] * (sum_gx[c] - mean[c] * sum_g[c]);
    dgp[c] = A(dg);
    dbp[c] = A(sum_g[c]);
    k[c] = A(-a[c] * invstd[c] * dg / M);
    k0[c] = A(-a[c] * sum_g[c] / M);
    mu[c] = A(mean[c]);
  }
  {
    RECORD_USER_SCOPE("eshift::batch_norm_act_backward_input");
    T* dp = dx.data_ptr<T>();
    map_rows(M, C, [&](int64_t begin, int64_t rows) {
      const int64_t o = begin * C;
      input_grad(gp + o, mp ? mp + o : nullptr, xp + o, dp + o, rows, C, at.data(), bt.data(), mu.data(), k.data(),
                 k0.data(), relu);
    });
  }
  return {dx, masked, dgamma, dbeta};
}

struct BatchNormActFunction : public torch::autograd::Function<BatchNormActFunction> {
  // `residual` is optional so that the autograd machinery sees no input where there is none
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const c10::optional<torch::Tensor>& residual, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, bool relu) {
    RECORD_USER_SCOPE("eshift::batch_norm_act_forward");
    const int64_t C = x.size(1), M = x.numel() / C;
    TORCH_CHECK(M > 1, "Expected more than 1 value per channel when training, got input size ", x.sizes());
    const torch::Tensor r = residual ? residual->contiguous(kChannelsLast) : torch::Tensor();
    torch::Tensor y, stats;
    if (x.scalar_type() == torch::kBFloat16) {
      y = forward_impl<c10::BFloat16, float>(x, r, weight, bias, running_mean, running_var, momentum, eps, relu, stats);
    } else {
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "batch_norm_act_forward", [&] {
        y = forward_impl<scalar_t, scalar_t>(x, r, weight, bias, running_mean, running_var, momentum, eps, relu, stats);
      });
    }
    ctx->saved_data["stats"] = stats;
    ctx->saved_data["relu"] = relu;
    ctx->saved_data["residual"] = r.defined();
    // the ReLU + residual variant takes its mask from y; without residual it is recomputed from x
    if (relu && r.defined())
      ctx->save_for_backward({x, weight, y});
    else
      ctx->save_for_backward({x, weight});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const bool relu = ctx->saved_data["relu"].toBool(), residual = ctx->saved_data["residual"].toBool();
    const torch::Tensor y = relu && residual ? saved[2] : torch::Tensor();
    const torch::Tensor g = grad_outputs[0].contiguous(kChannelsLast);
    const torch::Tensor stats = ctx->saved_data["stats"].toTensor();
    torch::autograd::tensor_list grads;
    if (g.scalar_type() == torch::kBFloat16) {
      grads = backward_impl<c10::BFloat16, float>(g, saved[0], y, saved[1], stats, relu);
    } else {
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "batch_norm_act_backward", [&] {
        grads = backward_impl<scalar_t, scalar_t>(g, saved[0], y, saved[1], stats, relu);
      });
    }
    if (residual && !relu) grads[1] = g;  // without activation the residual's gradient is g itself
    grads.resize(9);  // running_mean, running_var, momentum, eps and the activation get none
    return grads;
  }
};

bool fused_applies(const torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const torch::Tensor& residual) {
  const auto& o = bn.options;
  // float32 and float64 with parameters of the same type; bfloat16 activations with float32 ones
  const auto param = x.scalar_type() == torch::kBFloat16 ? torch::kFloat32 : x.scalar_type();
  return fused_enabled && bn.is_training() && o.track_running_stats() && o.affine() && x.dim() == 4 &&
         x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64 || x.scalar_type() == torch::kBFloat16) &&
         x.is_contiguous(kChannelsLast) && x.size(1) == o.num_features() && bn.weight.scalar_type() == param &&
         bn.bias.scalar_type() == param && bn.running_mean.scalar_type() == param &&
         bn.running_var.scalar_type() == param && bn.weight.is_contiguous() && bn.bias.is_contiguous() &&
         bn.running_mean.is_contiguous() && bn.running_var.is_contiguous() &&
         (!residual.defined() || (residual.sizes() == x.sizes() && residual.scalar_type() == x.scalar_type() &&
                                  residual.device() == x.device()));
}

}  // namespace

torch::Tensor batch_norm_act(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const torch::Tensor& residual,
                             Activation activation) {
  const bool relu = activation == Activation::ReLU;
  if (!fused_applies(bn, x, residual)) {
    auto y = bn.forward(x);
    if (residual.defined()) y = y + residual;
    return relu ? torch::relu(y) : y;
  }
  // running-statistics bookkeeping exactly as torch::nn::BatchNorm2d's forward
  const auto& o = bn.options;
  double factor = o.momentum().value_or(0.0);
  if (bn.num_batches_tracked.defined()) {
    bn.num_batches_tracked += 1;
    if (!o.momentum()) factor = 1.0 / bn.num_batches_tracked.item<double>();
  }
  const c10::optional<torch::Tensor> residual_opt =
      residual.defined() ? c10::optional<torch::Tensor>(residual) : c10::nullopt;
  return BatchNormActFunction::apply(x, residual_opt, bn.weight, bn.bias, bn.running_mean, bn.running_var, factor, o.eps(),
                                     relu);
}

void set_fused_batch_norm_act(bool enabled) { fused_enabled = enabled; }
bool fused_batch_norm_act_enabled() { return fused_enabled; }

}  // namespace eshift
