#include "eshift/models/detection/head_conv.h"

#include "eshift/models/layers.h"

namespace eshift {

HeadConvImpl::HeadConvImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, bool relu, HeadConvInit init)
    : relu_(relu) {
  if (spec.wnorm == WeightFamily::None) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(true));
    torch::NoGradGuard no_grad;
    if (init == HeadConvInit::KaimingUniformA1)
      torch::nn::init::kaiming_uniform_(conv->weight, 1.0);
    else
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    conv->bias.zero_();
    conv_ = torch::nn::AnyModule(register_module("conv", conv));
    return;
  }
  ModelSpec head = spec;
  head.norm = "gn";
  head.gn_groups = 32;
  conv_ = make_conv(head, in, out, kernel, 1);
  register_module("conv", conv_.ptr());
  norm_ = make_norm(head, out);
  register_module("norm", norm_.ptr());
  init_convs(*this);
}

torch::Tensor HeadConvImpl::forward(const torch::Tensor& x) {
  auto y = conv_.forward(x);
  if (!norm_.is_empty()) y = apply_norm(norm_, y);
  return relu_ ? torch::relu(y) : y;
}

}  // namespace eshift
