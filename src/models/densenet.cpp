#include "eshift/models/densenet.h"

#include <string>
#include <vector>

#include "eshift/models/layers.h"

namespace eshift {

namespace {
constexpr int64_t kGrowth = 32, kBottleneck = 4 * kGrowth, kInitFeatures = 64;
const int kLayers[4] = {6, 12, 48, 32};

// norm1 + ReLU, conv1 1×1 (→ 128), norm2 + ReLU, conv2 3×3 (→ 32): the 32 new channels
class DenseLayerImpl : public torch::nn::Module {
 public:
  DenseLayerImpl(const ModelSpec& spec, int64_t in)
      : norm1_(make_norm(spec, in)), conv1_(make_conv(spec, in, kBottleneck, 1, 1)),
        norm2_(make_norm(spec, kBottleneck)), conv2_(make_conv(spec, kBottleneck, kGrowth, 3, 1)) {
    register_module("norm1", norm1_.ptr());
    register_module("conv1", conv1_.ptr());
    register_module("norm2", norm2_.ptr());
    register_module("conv2", conv2_.ptr());
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = conv1_.forward(norm_relu(norm1_, x));
    return conv2_.forward(norm_relu(norm2_, y));
  }

 private:
  torch::nn::AnyModule norm1_, conv1_, norm2_, conv2_;
};
TORCH_MODULE(DenseLayer);

// denselayer1 … denselayerL, each on the concatenation of the block's input and every earlier output
class DenseBlockImpl : public torch::nn::Module {
 public:
  DenseBlockImpl(const ModelSpec& spec, int64_t in, int layers) {
    for (int l = 0; l < layers; ++l)
      layers_.push_back(register_module("denselayer" + std::to_string(l + 1), DenseLayer(spec, in + l * kGrowth)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> features{x};
    for (auto& layer : layers_) features.push_back(layer->forward(torch::cat(features, 1)));
    return torch::cat(features, 1);
  }

 private:
  std::vector<DenseLayer> layers_;
};
TORCH_MODULE(DenseBlock);

// norm + ReLU, conv 1×1 (in → out), 2×2/2 average pool
class TransitionImpl : public torch::nn::Module {
 public:
  TransitionImpl(const ModelSpec& spec, int64_t in, int64_t out)
      : norm_(make_norm(spec, in)), conv_(make_conv(spec, in, out, 1, 1)) {
    register_module("norm", norm_.ptr());
    register_module("conv", conv_.ptr());
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::avg_pool2d(conv_.forward(norm_relu(norm_, x)), 2, 2); }

 private:
  torch::nn::AnyModule norm_, conv_;
};
TORCH_MODULE(Transition);
}  // namespace

// torchvision's `features`: conv0, norm0, (pool0), denseblock1, transition1, …, denseblock4, norm5
class DenseNetFeaturesImpl : public torch::nn::Module {
 public:
  explicit DenseNetFeaturesImpl(const ModelSpec& spec)
      : conv0_(make_conv(spec, spec.in_channels, kInitFeatures, 7, 2)), norm0_(make_norm(spec, kInitFeatures)) {
    register_module("conv0", conv0_.ptr());
    register_module("norm0", norm0_.ptr());
    int64_t channels = kInitFeatures;
    for (int b = 0; b < 4; ++b) {
      const std::string n = std::to_string(b + 1);
      blocks_.push_back(register_module("denseblock" + n, DenseBlock(spec, channels, kLayers[b])));
      channels += kLayers[b] * kGrowth;
      if (b < 3) {
        transitions_.push_back(register_module("transition" + n, Transition(spec, channels, channels / 2)));
        channels /= 2;
      }
    }
    norm5_ = make_norm(spec, channels);
    register_module("norm5", norm5_.ptr());
    out_channels = channels;
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(norm_relu(norm0_, conv0_.forward(x)), 3, 2, 1);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      x = blocks_[b]->forward(x);
      if (b < transitions_.size()) x = transitions_[b]->forward(x);
    }
    return norm_relu(norm5_, x);  // torchvision: F.relu(features(x))
  }
  int64_t out_channels = 0;  // 1920

 private:
  torch::nn::AnyModule conv0_, norm0_, norm5_;
  std::vector<DenseBlock> blocks_;
  std::vector<Transition> transitions_;
};

DenseNetImpl::DenseNetImpl(const ModelSpec& spec) : Model(spec) {
  spec.validate();
  features_ = register_module("features", std::make_shared<DenseNetFeaturesImpl>(spec));
  classifier_ = register_module("classifier", torch::nn::Linear(features_->out_channels, spec.num_classes));
  init_convs(*this);  // He init (fan_out, ReLU) as every eshift model; torchvision's DenseNet uses fan_in
}

torch::Tensor DenseNetImpl::forward(torch::Tensor x) {
  x = features_->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return classifier_->forward(x);
}

ModelEntry densenet_entry() {
  return {"densenet201", [](const std::string& name) { return name == "densenet201"; }, [](const ModelSpec&) {},
          [](const ModelSpec& spec) { return std::static_pointer_cast<Model>(DenseNet(spec).ptr()); }};
}

}  // namespace eshift
