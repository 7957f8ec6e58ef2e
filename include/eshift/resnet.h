#pragma once
// Two ResNet layouts, chosen by the name:
// resnet50 / resnet101 / resnet152: the ImageNet ResNet (He et al. 2016, §3.4; stride on the 3×3 of
// each bottleneck, as torchvision): 7×7/2 conv with 64 filters, 3×3/2 max pool, four stages of
// bottleneck blocks (64, 128, 256, 512 → ×4 filters), average pool, linear classifier (`width` unused).
// Otherwise the CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 conv with 16 filters, three stages of n basic
// blocks with 16, 32, 64 filters (stride 2 at the start of stages 2 and 3), global average
// pooling and a linear classifier; depth = 6n + 2 (20, 32, 44, 56, 110, and 8 for quick tests).
// Shortcuts that change shape are 1×1 convs + norm (option B), of the same weight family.
// Every conv is built by the chosen family (--wnorm none|ws|wn|cwn) and followed by the chosen
// feature normalization (--norm bn|gn), so every conv weight is scale-invariant.
#include <torch/torch.h>

#include <string>

#include "eshift/weight_family.h"

namespace eshift {

struct ModelSpec {
  std::string name = "resnet20";        // resnet<6n+2>
  WeightFamily wnorm = WeightFamily::WS;
  std::string norm = "bn";              // bn | gn
  int gn_groups = 8;                    // groups of GroupNorm (capped at the channel count)
  WSOptions ws;                         // WS conventions (δ, where δ sits)
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t width = 16;                   // filters of the first stage

  int depth() const;                    // parses the name; throws std::invalid_argument
  bool imagenet() const;                // resnet50/101/152: the ImageNet layout
  void validate() const;                // throws std::invalid_argument on impossible values
  std::string to_json() const;          // stored in checkpoints
  static ModelSpec from_json(const std::string& json);
  bool operator==(const ModelSpec& other) const { return to_json() == other.to_json(); }
};

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x);  // logits [B, num_classes]
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  torch::nn::AnyModule stem_conv_, stem_norm_;
  torch::nn::Sequential stages_{nullptr};
  bool imagenet_ = false;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

// The conv of the chosen family, and the chosen feature normalization (used by the blocks).
torch::nn::AnyModule make_conv(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, int64_t stride);
torch::nn::AnyModule make_norm(const ModelSpec& spec, int64_t channels);

// Multiply-add FLOPs (2 per MAC) of every convolution of one forward pass of one h×w image; a
// training step costs about 3× this per image (forward, input gradient, weight gradient).
double conv_forward_flops(const ModelSpec& spec, int64_t height, int64_t width);

}  // namespace eshift
