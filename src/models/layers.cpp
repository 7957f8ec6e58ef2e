#include "eshift/models/layers.h"

#include <algorithm>

#include "eshift/nn/batch_norm_act.h"
#include "eshift/nn/normalized_layers.h"
#include "eshift/nn/sync_batch_norm.h"

namespace eshift {

torch::nn::AnyModule make_conv(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                               int64_t groups) {
  auto o = torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).groups(groups).bias(false);
  switch (spec.wnorm) {
    case WeightFamily::WS: return torch::nn::AnyModule(WSConv2d(o, spec.ws));
    case WeightFamily::WN: return torch::nn::AnyModule(WNConv2d(o));
    case WeightFamily::CWN: return torch::nn::AnyModule(CWNConv2d(o));
    case WeightFamily::None: break;
  }
  return torch::nn::AnyModule(torch::nn::Conv2d(o));
}

torch::nn::AnyModule make_norm(const ModelSpec& spec, int64_t channels) {
  if (spec.norm == "gn") {
    int64_t groups = std::min<int64_t>(spec.gn_groups, channels);
    while (channels % groups) --groups;  // the largest divisor of channels not above gn_groups
    return torch::nn::AnyModule(torch::nn::GroupNorm(groups, channels));
  }
  return torch::nn::AnyModule(torch::nn::BatchNorm2d(channels));
}

namespace {
// BatchNorm in training mode with statistics over every process (--sync-bn), when set
torch::nn::BatchNorm2dImpl* synchronized(torch::nn::AnyModule& norm) {
  if (!batch_norm_sync()) return nullptr;
  auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(norm.ptr().get());
  return bn != nullptr && bn->is_training() ? bn : nullptr;
}
}  // namespace

torch::Tensor apply_norm(torch::nn::AnyModule& norm, const torch::Tensor& x) {
  if (auto* bn = synchronized(norm)) return sync_batch_norm(*bn, x, batch_norm_sync());
  // the fused kernels where they apply (channels-last CPU training), else bn's own forward
  if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(norm.ptr()))
    return batch_norm_act(*bn, x, {}, Activation::None);
  // Under autocast a conv hands GroupNorm a bfloat16/float16 input while γ and β stay float32, and
  // LibTorch 1.13's CPU kernel needs one dtype: normalize in γ's dtype (float32, as CUDA autocast
  // runs group_norm); the next conv casts the float32 result down again.
  if (auto gn = std::dynamic_pointer_cast<torch::nn::GroupNormImpl>(norm.ptr()))
    if (gn->weight.defined() && x.scalar_type() != gn->weight.scalar_type())
      return gn->forward(x.to(gn->weight.scalar_type()));
  return norm.forward(x);
}

torch::Tensor norm_relu(torch::nn::AnyModule& norm, const torch::Tensor& x, const torch::Tensor& residual) {
  if (!synchronized(norm))
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(norm.ptr())) return batch_norm_act(*bn, x, residual);
  auto y = apply_norm(norm, x);
  return torch::relu(residual.defined() ? y + residual : y);
}

void init_convs(torch::nn::Module& model) {
  // He init for convs (fan_out, ReLU); BN γ = 1, β = 0 are LibTorch's defaults
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      // WN/CWN gains start at the norm of their (re-initialized) direction
      if (auto* wn = dynamic_cast<WNConv2dImpl*>(conv)) wn->reset_gain();
      if (auto* cwn = dynamic_cast<CWNConv2dImpl*>(conv)) cwn->reset_gain();
    }
  }
}

}  // namespace eshift
