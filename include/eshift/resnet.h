#pragma once
// CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 conv with 16 filters, three stages of n basic
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
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

// The conv of the chosen family, and the chosen feature normalization (used by the blocks).
torch::nn::AnyModule make_conv(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, int64_t stride);
torch::nn::AnyModule make_norm(const ModelSpec& spec, int64_t channels);

}  // namespace eshift
