#include "eshift/nn/sync_batch_norm.h"

namespace eshift {

namespace {
SumAcrossProcesses g_sum;

// [C] → [1, C, 1, 1] for broadcasting against x
torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor weight,
                               torch::Tensor bias, torch::nn::BatchNorm2dImpl* bn, const SumAcrossProcesses* sum) {
    const int64_t channels = x.size(1);
    const double local = static_cast<double>(x.numel() / channels);
    // Σ x and the count, then Σ (x − μ)², each summed across processes
    auto first = torch::cat({x.sum({0, 2, 3}), torch::full({1}, local, x.options())});
    (*sum)(first);
    const double count = first[channels].item<double>();
    TORCH_CHECK(count > 1, "BatchNorm needs more than one value per channel across the processes, got ", count);
    auto mean = first.narrow(0, 0, channels) / count;
    auto centered = x - per_channel(mean);
    auto second = (centered * centered).sum({0, 2, 3});
    (*sum)(second);
    auto var = second / count;
    auto invstd = torch::rsqrt(var + bn->options.eps());
    auto xhat = centered * per_channel(invstd);
    auto y = xhat * per_channel(weight) + per_channel(bias);

    if (bn->options.track_running_stats()) {
      torch::NoGradGuard no_grad;
      bn->num_batches_tracked += 1;
      const double m = bn->options.momentum().has_value() ? *bn->options.momentum()
                                                          : 1.0 / bn->num_batches_tracked.item<double>();
      bn->running_mean.mul_(1 - m).add_(mean.to(bn->running_mean.dtype()), m);
      bn->running_var.mul_(1 - m).add_((var * (count / (count - 1))).to(bn->running_var.dtype()), m);
    }
    ctx->save_for_backward({xhat, weight, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["sum"] = reinterpret_cast<int64_t>(sum);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& xhat = saved[0];
    const auto& weight = saved[1];
    const auto& invstd = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    const auto* sum = reinterpret_cast<const SumAcrossProcesses*>(ctx->saved_data["sum"].toInt());
    const auto g = grad_outputs[0];
    const int64_t channels = g.size(1);
    auto local_g = g.sum({0, 2, 3});
    auto local_gx = (g * xhat).sum({0, 2, 3});
    auto both = torch::cat({local_g, local_gx});
    (*sum)(both);
    const auto mean_g = both.narrow(0, 0, channels) / count;
    const auto mean_gx = both.narrow(0, channels, channels) / count;
    auto dx = per_channel(weight * invstd) * (g - per_channel(mean_g) - xhat * per_channel(mean_gx));
    return {dx, local_gx, local_g, torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const SumAcrossProcesses& sum) {
  TORCH_CHECK(bn.options.affine(), "synchronized BatchNorm needs affine parameters");
  TORCH_CHECK(x.dim() == 4, "synchronized BatchNorm expects [N, C, H, W], got ", x.sizes());
  return SyncBatchNormFunction::apply(x, bn.weight, bn.bias, &bn, &sum);
}

void set_batch_norm_sync(SumAcrossProcesses sum) { g_sum = std::move(sum); }
const SumAcrossProcesses& batch_norm_sync() { return g_sum; }

}  // namespace eshift
