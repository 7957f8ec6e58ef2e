#include "eshift/nn/param_roles.h"

#include <unordered_map>

namespace eshift {

std::string role_name(ParamRole role) {
  switch (role) {
    case ParamRole::NormalizedWeight: return "normalized weight";
    case ParamRole::ConvWeight: return "conv weight";
    case ParamRole::DepthwiseWeight: return "depthwise weight";
    case ParamRole::NormScale: return "norm scale (γ, g)";
    case ParamRole::NormShift: return "norm shift (β)";
    case ParamRole::Bias: return "bias";
    case ParamRole::ClassifierWeight: return "classifier weight";
  }
  return "?";
}

bool is_depthwise(int64_t in_channels, int64_t groups) { return groups > 1 && in_channels == groups; }

namespace {
// Roles of the parameters of one layer, names relative to it; empty when it owns none.
std::vector<ParamInfo> roles_of(torch::nn::Module& m) {
  if (auto* roled = dynamic_cast<RoledModule*>(&m)) return roled->parameter_roles();
  std::vector<ParamInfo> out;
  auto add = [&](const char* name, const torch::Tensor& t, ParamRole role) {
    if (t.defined()) out.push_back({name, t, role});
  };
  if (auto* conv = m.as<torch::nn::Conv2d>()) {
    const auto& o = conv->options;
    add("weight", conv->weight,
        is_depthwise(o.in_channels(), o.groups()) ? ParamRole::DepthwiseWeight : ParamRole::ConvWeight);
    add("bias", conv->bias, ParamRole::Bias);
  } else if (auto* deconv = m.as<torch::nn::ConvTranspose2d>()) {
    // [in, out/groups, kh, kw]: dim 0 is not an output filter, so no per-filter statistics
    add("weight", deconv->weight, ParamRole::ConvWeight);
    add("bias", deconv->bias, ParamRole::Bias);
    for (auto& p : out) p.per_filter = false;
    return out;
  } else if (auto* linear = m.as<torch::nn::Linear>()) {
    add("weight", linear->weight, ParamRole::ClassifierWeight);
    add("bias", linear->bias, ParamRole::Bias);
  } else if (auto* bn = m.as<torch::nn::BatchNorm2d>()) {
    add("weight", bn->weight, ParamRole::NormScale);
    add("bias", bn->bias, ParamRole::NormShift);
  } else if (auto* gn = m.as<torch::nn::GroupNorm>()) {
    add("weight", gn->weight, ParamRole::NormScale);
    add("bias", gn->bias, ParamRole::NormShift);
  }
  for (auto& p : out) p.per_filter = p.tensor.dim() >= 2;
  return out;
}
}  // namespace

std::vector<ParamInfo> describe_parameters(torch::nn::Module& model) {
  std::unordered_map<const void*, ParamInfo> by_tensor;
  for (auto& item : model.named_modules("", /*include_self=*/true)) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    auto own = item.value()->named_parameters(/*recurse=*/false);
    auto roles = roles_of(*item.value());
    for (auto& info : roles) {
      info.name = prefix + info.name;
      by_tensor.emplace(info.tensor.unsafeGetTensorImpl(), info);
    }
    for (auto& p : own) {
      TORCH_CHECK(by_tensor.count(p.value().unsafeGetTensorImpl()),
                  "parameter '", prefix + p.key(), "' of layer ", item.value()->name(),
                  " has no role: eshift does not know this layer type");
    }
  }
  std::vector<ParamInfo> out;
  for (auto& p : model.named_parameters()) {
    auto it = by_tensor.find(p.value().unsafeGetTensorImpl());
    TORCH_CHECK(it != by_tensor.end(), "parameter '", p.key(), "' has no role");
    out.push_back(it->second);
    out.back().name = p.key();
  }
  return out;
}

}  // namespace eshift
