#include "eshift/nn/normalized_layers.h"

namespace eshift {

namespace {
ParamInfo normalized(const torch::Tensor& w, WeightFamily family, int64_t in_channels, int64_t groups) {
  ParamInfo info{"weight", w, ParamRole::NormalizedWeight, family, /*per_filter=*/true};
  if (is_depthwise(in_channels, groups)) info.role = ParamRole::DepthwiseWeight;
  return info;
}
void add_bias(std::vector<ParamInfo>& out, const torch::Tensor& bias) {
  if (bias.defined()) out.push_back({"bias", bias, ParamRole::Bias});
}
}  // namespace

// ------------------------------------------------------------------------------- WS
WSConv2dImpl::WSConv2dImpl(torch::nn::Conv2dOptions options, WSOptions ws)
    : torch::nn::Conv2dImpl(options), ws_(ws) {
  TORCH_CHECK(ws.delta >= 0, "weight standardization δ must be >= 0, got ", ws.delta);
}

torch::Tensor WSConv2dImpl::forward(const torch::Tensor& x) {
  return _conv_forward(x, standardize_weight(weight, ws_));
}

std::vector<ParamInfo> WSConv2dImpl::parameter_roles() const {
  std::vector<ParamInfo> out{normalized(weight, WeightFamily::WS, options.in_channels(), options.groups())};
  add_bias(out, bias);
  return out;
}

// ------------------------------------------------------------------------------- WN
WNConv2dImpl::WNConv2dImpl(torch::nn::Conv2dOptions options) : torch::nn::Conv2dImpl(options) {
  gain = register_parameter("gain", torch::empty({weight.size(0)}, weight.options()));
  reset_gain();
}

void WNConv2dImpl::reset_gain() {
  torch::NoGradGuard no_grad;
  gain.copy_(filter_norm(weight));
}

torch::Tensor WNConv2dImpl::forward(const torch::Tensor& x) {
  return _conv_forward(x, weight_normalize(weight, gain));
}

std::vector<ParamInfo> WNConv2dImpl::parameter_roles() const {
  std::vector<ParamInfo> out{normalized(weight, WeightFamily::WN, options.in_channels(), options.groups()),
                             {"gain", gain, ParamRole::NormScale}};
  add_bias(out, bias);
  return out;
}

// ------------------------------------------------------------------------------- CWN
CWNConv2dImpl::CWNConv2dImpl(torch::nn::Conv2dOptions options) : torch::nn::Conv2dImpl(options) {
  gain = register_parameter("gain", torch::empty({weight.size(0)}, weight.options()));
  reset_gain();
}

void CWNConv2dImpl::reset_gain() {
  torch::NoGradGuard no_grad;
  gain.copy_(filter_centered_norm(weight));
}

torch::Tensor CWNConv2dImpl::forward(const torch::Tensor& x) {
  return _conv_forward(x, centered_weight_normalize(weight, gain));
}

std::vector<ParamInfo> CWNConv2dImpl::parameter_roles() const {
  std::vector<ParamInfo> out{normalized(weight, WeightFamily::CWN, options.in_channels(), options.groups()),
                             {"gain", gain, ParamRole::NormScale}};
  add_bias(out, bias);
  return out;
}

// ------------------------------------------------------------------------------- WN linear
WNLinearImpl::WNLinearImpl(torch::nn::LinearOptions options) : torch::nn::LinearImpl(options) {
  torch::NoGradGuard no_grad;
  gain = register_parameter("gain", filter_norm(weight).clone());
}

torch::Tensor WNLinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, weight_normalize(weight, gain), bias);
}

std::vector<ParamInfo> WNLinearImpl::parameter_roles() const {
  std::vector<ParamInfo> out{{"weight", weight, ParamRole::NormalizedWeight, WeightFamily::WN, true},
                             {"gain", gain, ParamRole::NormScale}};
  add_bias(out, bias);
  return out;
}

}  // namespace eshift
