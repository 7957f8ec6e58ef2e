#pragma once
// Two ResNet layouts, chosen by the name:
// resnet50 / resnet101 / resnet152: the ImageNet ResNet (He et al. 2016, §3.4; stride on the 3×3 of
// each bottleneck, as torchvision): 7×7/2 conv with 64 filters, 3×3/2 max pool, four stages of
// bottleneck blocks (64, 128, 256, 512 → ×4 filters), average pool, linear classifier (`width` unused).
// resnet<6n+2>: the CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 conv with 16 filters, three
// stages of n basic blocks with 16, 32, 64 filters (stride 2 at the start of stages 2 and 3), global
// average pooling and a linear classifier; depth = 6n + 2 (20, 32, 44, 56, 110, and 8 for quick tests).
// Shortcuts that change shape are 1×1 convs + norm (option B), of the same weight family.
// Every conv is built by the chosen family (--wnorm none|ws|wn|cwn) and followed by the chosen
// feature normalization (--norm bn|gn), so every conv weight is scale-invariant.
#include <torch/torch.h>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class ResNetImpl : public Model {
 public:
  explicit ResNetImpl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]

 private:
  torch::nn::AnyModule stem_conv_, stem_norm_;
  torch::nn::Sequential stages_{nullptr};
  bool imagenet_ = false;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

// Registry entries: resnet50/101/152, and resnet<6n+2>.
ModelEntry imagenet_resnet_entry();
ModelEntry cifar_resnet_entry();

}  // namespace eshift
