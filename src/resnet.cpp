#include "eshift/resnet.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>
#include <stdexcept>

#include "eshift/batch_norm_act.h"
#include "eshift/normalized_layers.h"

namespace eshift {

int ModelSpec::depth() const {
  const std::string prefix = "resnet";
  int d = 0;
  try {
    if (name.rfind(prefix, 0) != 0) throw std::invalid_argument("");
    size_t used = 0;
    d = std::stoi(name.substr(prefix.size()), &used);
    if (used != name.size() - prefix.size()) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw std::invalid_argument("unknown model '" + name + "' (expected resnet20, resnet32, resnet44, resnet56, "
                                "resnet110 or any resnet<6n+2>)");
  }
  if (d == 50 || d == 101 || d == 152) return d;
  if (d < 8 || (d - 2) % 6 != 0)
    throw std::invalid_argument("unknown model '" + name + "': CIFAR ResNet depth must be 6n+2 >= 8 "
                                "(or resnet50/101/152 for the ImageNet layout)");
  return d;
}

bool ModelSpec::imagenet() const {
  const int d = depth();
  return d == 50 || d == 101 || d == 152;
}

namespace {
std::vector<int> bottleneck_counts(int depth) {
  if (depth == 50) return {3, 4, 6, 3};
  if (depth == 101) return {3, 4, 23, 3};
  return {3, 8, 36, 3};
}
}  // namespace

void ModelSpec::validate() const {
  depth();
  if (norm != "bn" && norm != "gn") throw std::invalid_argument("unknown --norm '" + norm + "' (bn or gn)");
  if (gn_groups < 1) throw std::invalid_argument("--gn-groups must be >= 1");
  if (in_channels < 1) throw std::invalid_argument("input channels must be >= 1");
  if (num_classes < 2) throw std::invalid_argument("need at least 2 classes");
  if (width < 1) throw std::invalid_argument("--width must be >= 1");
  if (!(ws.delta >= 0)) throw std::invalid_argument("--ws-delta must be >= 0");
}

std::string ModelSpec::to_json() const {
  nlohmann::json j{{"name", name},          {"wnorm", family_name(wnorm)}, {"norm", norm},
                   {"gn_groups", gn_groups}, {"ws_delta", ws.delta},      {"ws_delta_inside_sqrt", ws.delta_inside_sqrt},
                   {"in_channels", in_channels}, {"num_classes", num_classes}, {"width", width}};
  return j.dump();
}

ModelSpec ModelSpec::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  ModelSpec s;
  s.name = j.at("name").get<std::string>();
  s.wnorm = parse_family(j.at("wnorm").get<std::string>());
  s.norm = j.at("norm").get<std::string>();
  s.gn_groups = j.at("gn_groups").get<int>();
  s.ws.delta = j.at("ws_delta").get<double>();
  s.ws.delta_inside_sqrt = j.at("ws_delta_inside_sqrt").get<bool>();
  s.in_channels = j.at("in_channels").get<int64_t>();
  s.num_classes = j.at("num_classes").get<int64_t>();
  s.width = j.at("width").get<int64_t>();
  return s;
}

torch::nn::AnyModule make_conv(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  auto o = torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false);
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
// relu(norm(x) [+ residual]): BatchNorm takes the fused path (batch_norm_act.h), GroupNorm the plain ops.
torch::Tensor norm_relu(torch::nn::AnyModule& norm, const torch::Tensor& x, const torch::Tensor& residual = {}) {
  if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(norm.ptr())) return batch_norm_act(*bn, x, residual);
  auto y = norm.forward(x);
  return torch::relu(residual.defined() ? y + residual : y);
}

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t stride)
      : conv1_(make_conv(spec, in, out, 3, stride)), norm1_(make_norm(spec, out)),
        conv2_(make_conv(spec, out, out, 3, 1)), norm2_(make_norm(spec, out)) {
    register_module("conv1", conv1_.ptr());
    register_module("norm1", norm1_.ptr());
    register_module("conv2", conv2_.ptr());
    register_module("norm2", norm2_.ptr());
    if (stride != 1 || in != out) {
      short_conv_ = make_conv(spec, in, out, 1, stride);
      short_norm_ = make_norm(spec, out);
      register_module("shortcut_conv", short_conv_.ptr());
      register_module("shortcut_norm", short_norm_.ptr());
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = norm_relu(norm1_, conv1_.forward(x));
    auto shortcut = short_conv_.is_empty() ? x : short_norm_.forward(short_conv_.forward(x));
    return norm_relu(norm2_, conv2_.forward(y), shortcut);
  }

 private:
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, short_conv_, short_norm_;
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(const ModelSpec& spec, int64_t in, int64_t mid, int64_t stride)
      : conv1_(make_conv(spec, in, mid, 1, 1)), norm1_(make_norm(spec, mid)),
        conv2_(make_conv(spec, mid, mid, 3, stride)), norm2_(make_norm(spec, mid)),
        conv3_(make_conv(spec, mid, 4 * mid, 1, 1)), norm3_(make_norm(spec, 4 * mid)) {
    register_module("conv1", conv1_.ptr());
    register_module("norm1", norm1_.ptr());
    register_module("conv2", conv2_.ptr());
    register_module("norm2", norm2_.ptr());
    register_module("conv3", conv3_.ptr());
    register_module("norm3", norm3_.ptr());
    if (stride != 1 || in != 4 * mid) {
      short_conv_ = make_conv(spec, in, 4 * mid, 1, stride);
      short_norm_ = make_norm(spec, 4 * mid);
      register_module("shortcut_conv", short_conv_.ptr());
      register_module("shortcut_norm", short_norm_.ptr());
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = norm_relu(norm1_, conv1_.forward(x));
    y = norm_relu(norm2_, conv2_.forward(y));
    auto shortcut = short_conv_.is_empty() ? x : short_norm_.forward(short_conv_.forward(x));
    return norm_relu(norm3_, conv3_.forward(y), shortcut);
  }

 private:
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, conv3_, norm3_, short_conv_, short_norm_;
};
TORCH_MODULE(Bottleneck);
}  // namespace

double conv_forward_flops(const ModelSpec& spec, int64_t h, int64_t w) {
  double flops = 0;
  auto conv = [&](int64_t in, int64_t out, int64_t k, int64_t stride) {
    h = (h + 2 * (k / 2) - k) / stride + 1;
    w = (w + 2 * (k / 2) - k) / stride + 1;
    flops += 2.0 * in * k * k * out * h * w;
  };
  if (spec.imagenet()) {
    conv(spec.in_channels, 64, 7, 2);
    h = (h + 2 - 3) / 2 + 1;  // max pool 3×3/2, padding 1
    w = (w + 2 - 3) / 2 + 1;
    int64_t in = 64;
    const auto counts = bottleneck_counts(spec.depth());
    for (int stage = 0; stage < 4; ++stage)
      for (int b = 0; b < counts[stage]; ++b) {
        const int64_t mid = 64 << stage, stride = (stage > 0 && b == 0) ? 2 : 1;
        const int64_t h0 = h, w0 = w;
        conv(in, mid, 1, 1);
        conv(mid, mid, 3, stride);
        conv(mid, 4 * mid, 1, 1);
        if (stride != 1 || in != 4 * mid) {  // the shortcut sees the block's input size
          const int64_t h1 = h, w1 = w;
          h = h0, w = w0;
          conv(in, 4 * mid, 1, stride);
          h = h1, w = w1;
        }
        in = 4 * mid;
      }
  } else {
    const int n = (spec.depth() - 2) / 6;
    conv(spec.in_channels, spec.width, 3, 1);
    int64_t in = spec.width;
    for (int stage = 0; stage < 3; ++stage)
      for (int b = 0; b < n; ++b) {
        const int64_t out = spec.width << stage, stride = (stage > 0 && b == 0) ? 2 : 1;
        const int64_t h0 = h, w0 = w;
        conv(in, out, 3, stride);
        conv(out, out, 3, 1);
        if (stride != 1 || in != out) {
          const int64_t h1 = h, w1 = w;
          h = h0, w = w0;
          conv(in, out, 1, stride);
          h = h1, w = w1;
        }
        in = out;
      }
  }
  return flops;
}

ResNetImpl::ResNetImpl(const ModelSpec& spec) : spec_(spec), imagenet_(spec.imagenet()) {
  spec.validate();
  const int64_t w = imagenet_ ? 64 : spec.width;
  stem_conv_ = make_conv(spec, spec.in_channels, w, imagenet_ ? 7 : 3, imagenet_ ? 2 : 1);
  stem_norm_ = make_norm(spec, w);
  register_module("conv1", stem_conv_.ptr());
  register_module("norm1", stem_norm_.ptr());
  stages_ = register_module("stages", torch::nn::Sequential());
  int64_t in = w;
  if (imagenet_) {
    const auto counts = bottleneck_counts(spec.depth());
    for (int stage = 0; stage < 4; ++stage)
      for (int b = 0; b < counts[stage]; ++b) {
        stages_->push_back(Bottleneck(spec, in, w << stage, (stage > 0 && b == 0) ? 2 : 1));
        in = 4 * (w << stage);
      }
  } else {
    const int n = (spec.depth() - 2) / 6;
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t out = w << stage;
      for (int b = 0; b < n; ++b) {
        stages_->push_back(BasicBlock(spec, in, out, (stage > 0 && b == 0) ? 2 : 1));
        in = out;
      }
    }
  }
  fc_ = register_module("fc", torch::nn::Linear(in, spec.num_classes));
  // He init for convs (fan_out, ReLU), BN γ = 1, β = 0: the usual CIFAR ResNet initialization.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      // WN/CWN gains start at the norm of their (re-initialized) direction
      if (auto* wn = dynamic_cast<WNConv2dImpl*>(conv)) wn->reset_gain();
      if (auto* cwn = dynamic_cast<CWNConv2dImpl*>(conv)) cwn->reset_gain();
    }
  }
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = norm_relu(stem_norm_, stem_conv_.forward(x));
  if (imagenet_) x = torch::max_pool2d(x, 3, 2, 1);
  x = stages_->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_->forward(x);
}

}  // namespace eshift
