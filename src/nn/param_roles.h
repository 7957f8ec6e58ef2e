#pragma once
// Parameter roles: what a parameter IS, decided by the layer that creates it, never guessed later
// from tensor rank or name. The decay policy maps roles to regularizers.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/weight_family.h"

namespace eshift {

enum class ParamRole {
  NormalizedWeight,  // raw weight of a WS/WN/CWN layer (scale-invariant), grouped per output filter
  ConvWeight,        // plain (non-depthwise) conv weight
  DepthwiseWeight,   // depthwise conv weight (groups == C_in, one input channel per filter)
  NormScale,         // BN/GN γ, WN/CWN gain g
  NormShift,         // BN/GN β
  Bias,              // conv / linear bias
  ClassifierWeight,  // plain linear (fully connected) weight
};
constexpr int kNumParamRoles = 7;

std::string role_name(ParamRole role);

struct ParamInfo {
  std::string name;        // full dotted name, as in named_parameters()
  torch::Tensor tensor;
  ParamRole role;
  WeightFamily family = WeightFamily::None;  // for NormalizedWeight (and depthwise normalized ones)
  bool per_filter = false;  // statistics are grouped per output filter (dim 0)
};

// A layer that states the role of each parameter it creates. Names are relative to the layer.
class RoledModule {
 public:
  virtual ~RoledModule() = default;
  virtual std::vector<ParamInfo> parameter_roles() const = 0;
};

// Walks every submodule and returns every parameter of `model` with its role, in the order of
// model.parameters(). Knows eshift's layers (RoledModule) and LibTorch's Conv2d, ConvTranspose2d, Linear,
// BatchNorm2d and GroupNorm; throws on a parameter of any other layer (no silent guess).
std::vector<ParamInfo> describe_parameters(torch::nn::Module& model);

// Role of a conv weight from its layer's options: depthwise when every group has one input channel.
bool is_depthwise(int64_t in_channels, int64_t groups);

}  // namespace eshift
