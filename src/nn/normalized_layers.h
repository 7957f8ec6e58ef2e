#pragma once
// The weight normalization family as LibTorch layers. Each layer keeps its RAW weight as the
// parameter `weight` (what the optimizer updates and the regularizer decays) and computes with the
// normalized weight, per output filter (see weight_family.h for the formulas and conventions).
#include <torch/torch.h>

#include "eshift/nn/param_roles.h"
#include "eshift/nn/weight_family.h"

namespace eshift {

// Weight-standardized conv: y = conv(x, (w − μ)/(σ + δ)). Default: the paper's convention.
class WSConv2dImpl : public torch::nn::Conv2dImpl, public RoledModule {
 public:
  WSConv2dImpl(torch::nn::Conv2dOptions options, WSOptions ws = {});
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<ParamInfo> parameter_roles() const override;
  const WSOptions& ws_options() const { return ws_; }

 private:
  WSOptions ws_;
};
TORCH_MODULE(WSConv2d);

// Weight-normalized conv: y = conv(x, g · v/‖v‖). `weight` is v; `gain` is g, initialized to ‖v‖
// so that the layer starts as the plain conv it was initialized as.
class WNConv2dImpl : public torch::nn::Conv2dImpl, public RoledModule {
 public:
  explicit WNConv2dImpl(torch::nn::Conv2dOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<ParamInfo> parameter_roles() const override;
  void reset_gain();  // g ← ‖v‖ (after `weight` is re-initialized)
  torch::Tensor gain;
};
TORCH_MODULE(WNConv2d);

// Centered weight-normalized conv: y = conv(x, g · (v − μ)/‖v − μ‖); gain initialized to ‖v − μ‖.
class CWNConv2dImpl : public torch::nn::Conv2dImpl, public RoledModule {
 public:
  explicit CWNConv2dImpl(torch::nn::Conv2dOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<ParamInfo> parameter_roles() const override;
  void reset_gain();  // g ← ‖v − μ‖ (after `weight` is re-initialized)
  torch::Tensor gain;
};
TORCH_MODULE(CWNConv2d);

// Weight-normalized linear: y = x (g · v/‖v‖)ᵀ + b, one row per output feature.
class WNLinearImpl : public torch::nn::LinearImpl, public RoledModule {
 public:
  explicit WNLinearImpl(torch::nn::LinearOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<ParamInfo> parameter_roles() const override;
  torch::Tensor gain;
};
TORCH_MODULE(WNLinear);

}  // namespace eshift
