#include "eshift/models/resnet.h"

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "eshift/models/layers.h"

namespace eshift {

namespace {
// The depth in "resnet<depth>", or 0 when the name has another form.
int resnet_depth(const std::string& name) {
  const std::string prefix = "resnet";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() || name.size() > prefix.size() + 6) return 0;
  for (size_t i = prefix.size(); i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return 0;
  return std::stoi(name.substr(prefix.size()));
}

// An ImageNet layout: block type, blocks per stage, and the 3×3 conv's groups and width per group
// (ResNeXt's cardinality and d; ResNet: 1 group of 64).
struct ImageNetLayout {
  bool bottleneck;
  std::vector<int> blocks;
  int64_t groups = 1, width_per_group = 64;
};

// The ImageNet layout of `name` (torchvision's), or nullptr when it is not one.
const ImageNetLayout* imagenet_layout(const std::string& name) {
  static const std::map<std::string, ImageNetLayout> layouts = {
      {"resnet18", {false, {2, 2, 2, 2}}},
      {"resnet34", {false, {3, 4, 6, 3}}},
      {"resnet50", {true, {3, 4, 6, 3}}},
      {"resnet101", {true, {3, 4, 23, 3}}},
      {"resnet152", {true, {3, 8, 36, 3}}},
      {"resnext50_32x4d", {true, {3, 4, 6, 3}, 32, 4}},
      {"resnext101_32x8d", {true, {3, 4, 23, 3}, 32, 8}},
  };
  auto it = layouts.find(name);
  return it == layouts.end() ? nullptr : &it->second;
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
    auto shortcut = short_conv_.is_empty() ? x : apply_norm(short_norm_, short_conv_.forward(x));
    return norm_relu(norm2_, conv2_.forward(y), shortcut);
  }

 private:
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, short_conv_, short_norm_;
};
TORCH_MODULE(BasicBlock);

// 1×1 (in → width), 3×3 (width → width, `groups` groups, the stride), 1×1 (width → out)
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(const ModelSpec& spec, int64_t in, int64_t width, int64_t out, int64_t stride, int64_t groups)
      : conv1_(make_conv(spec, in, width, 1, 1)), norm1_(make_norm(spec, width)),
        conv2_(make_conv(spec, width, width, 3, stride, groups)), norm2_(make_norm(spec, width)),
        conv3_(make_conv(spec, width, out, 1, 1)), norm3_(make_norm(spec, out)) {
    register_module("conv1", conv1_.ptr());
    register_module("norm1", norm1_.ptr());
    register_module("conv2", conv2_.ptr());
    register_module("norm2", norm2_.ptr());
    register_module("conv3", conv3_.ptr());
    register_module("norm3", norm3_.ptr());
    if (stride != 1 || in != out) {
      short_conv_ = make_conv(spec, in, out, 1, stride);
      short_norm_ = make_norm(spec, out);
      register_module("shortcut_conv", short_conv_.ptr());
      register_module("shortcut_norm", short_norm_.ptr());
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = norm_relu(norm1_, conv1_.forward(x));
    y = norm_relu(norm2_, conv2_.forward(y));
    auto shortcut = short_conv_.is_empty() ? x : apply_norm(short_norm_, short_conv_.forward(x));
    return norm_relu(norm3_, conv3_.forward(y), shortcut);
  }

 private:
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, conv3_, norm3_, short_conv_, short_norm_;
};
TORCH_MODULE(Bottleneck);
}  // namespace

ResNetImpl::ResNetImpl(const ModelSpec& spec) : Model(spec), imagenet_(imagenet_layout(spec.name) != nullptr) {
  spec.validate();
  const int64_t w = imagenet_ ? 64 : spec.width;
  stem_conv_ = make_conv(spec, spec.in_channels, w, imagenet_ ? 7 : 3, imagenet_ ? 2 : 1);
  stem_norm_ = make_norm(spec, w);
  register_module("conv1", stem_conv_.ptr());
  register_module("norm1", stem_norm_.ptr());
  stages_ = register_module("stages", torch::nn::Sequential());
  int64_t in = w;
  if (imagenet_) {
    const auto& layout = *imagenet_layout(spec.name);
    for (int stage = 0; stage < 4; ++stage) {
      const int64_t planes = w << stage;
      // torchvision: width = int(planes · (width_per_group / 64)) · groups, out = 4 · planes
      const int64_t width = planes * layout.width_per_group / 64 * layout.groups;
      for (int b = 0; b < layout.blocks[stage]; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        if (layout.bottleneck) {
          stages_->push_back(Bottleneck(spec, in, width, 4 * planes, stride, layout.groups));
          in = 4 * planes;
        } else {
          stages_->push_back(BasicBlock(spec, in, planes, stride));
          in = planes;
        }
      }
      stage_ends_.push_back(stages_->size());
      stage_channels_.push_back(in);
    }
  } else {
    const int n = (resnet_depth(spec.name) - 2) / 6;
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t out = w << stage;
      for (int b = 0; b < n; ++b) {
        stages_->push_back(BasicBlock(spec, in, out, (stage > 0 && b == 0) ? 2 : 1));
        in = out;
      }
      stage_ends_.push_back(stages_->size());
      stage_channels_.push_back(in);
    }
  }
  fc_ = register_module("fc", torch::nn::Linear(in, spec.num_classes));
  init_convs(*this);  // He init (fan_out, ReLU), BN γ = 1, β = 0: the usual ResNet initialization
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = norm_relu(stem_norm_, stem_conv_.forward(x));
  if (imagenet_) x = torch::max_pool2d(x, 3, 2, 1);
  x = stages_->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_->forward(x);
}

std::vector<torch::Tensor> ResNetImpl::features(torch::Tensor x) {
  x = norm_relu(stem_norm_, stem_conv_.forward(x));
  if (imagenet_) x = torch::max_pool2d(x, 3, 2, 1);
  std::vector<torch::Tensor> out;
  size_t block = 0;
  for (size_t end : stage_ends_) {
    for (; block < end; ++block) x = (stages_->begin() + long(block))->forward(x);
    out.push_back(x);
  }
  return out;
}

int64_t ResNetImpl::stage_of_block(size_t block) const {
  for (size_t s = 0; s < stage_ends_.size(); ++s)
    if (block < stage_ends_[s]) return int64_t(s) + 1;
  TORCH_CHECK(false, "block ", block, " is past the last stage");
}

namespace {
std::shared_ptr<Model> build_resnet(const ModelSpec& spec) { return ResNet(spec).ptr(); }
}  // namespace

ModelEntry imagenet_resnet_entry() {
  return {"resnet18, resnet34, resnet50, resnet101, resnet152",
          [](const std::string& name) { return name.rfind("resnet", 0) == 0 && imagenet_layout(name); },
          [](const ModelSpec&) {}, build_resnet};
}

ModelEntry resnext_entry() {
  return {"resnext50_32x4d, resnext101_32x8d",
          [](const std::string& name) { return name.rfind("resnext", 0) == 0 && imagenet_layout(name); },
          [](const ModelSpec&) {}, build_resnet};
}

ModelEntry cifar_resnet_entry() {
  return {"resnet<6n+2> (resnet20, resnet32, resnet44, resnet56, resnet110)",
          [](const std::string& name) { return resnet_depth(name) > 0; },
          [](const ModelSpec& spec) {
            const int d = resnet_depth(spec.name);
            if (d < 8 || (d - 2) % 6 != 0)
              throw std::invalid_argument("unknown model '" + spec.name + "': CIFAR ResNet depth must be 6n+2 >= 8 "
                                          "(or resnet18/34/50/101/152 for the ImageNet layout)");
          },
          build_resnet};
}

}  // namespace eshift
