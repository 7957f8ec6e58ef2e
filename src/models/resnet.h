#pragma once
// The ResNets and ResNeXts, the layout chosen by the name:
// The ImageNet ResNets (He et al. 2016, §3.4, Table 1) and ResNeXts (Xie et al. 2017), as torchvision
// defines them: 7×7/2 conv with 64 filters, 3×3/2 max pool, four stages (64, 128, 256, 512 "planes",
// stride 2 at the start of stages 2–4), average pool, linear classifier (`width` unused):
//   resnet18 / resnet34: basic blocks (two 3×3 convs, planes filters), 2-2-2-2 / 3-4-6-3 blocks
//   resnet50 / 101 / 152: bottlenecks (1×1 → 3×3 → 1×1, 4·planes out, stride on the 3×3 as
//     torchvision), 3-4-6-3 / 3-4-23-3 / 3-8-36-3 blocks
//   resnext50_32x4d / resnext101_32x8d: bottlenecks of width int(planes · d/64) · 32 (d = 4, 8) with a
//     grouped 3×3 conv of 32 groups, 3-4-6-3 / 3-4-23-3 blocks (torchvision's resnext*)
// resnet<6n+2>: the CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 conv with 16 filters, three
// stages of n basic blocks with 16, 32, 64 filters (stride 2 at the start of stages 2 and 3), global
// average pooling and a linear classifier; depth = 6n + 2 (20, 32, 44, 56, 110, and 8 for quick tests).
// Shortcuts that change shape are 1×1 convs + norm (option B), of the same weight family.
// Every conv is built by the chosen family (--wnorm none|ws|wn|cwn) and followed by the chosen
// feature normalization (--norm bn|gn), so every conv weight is scale-invariant.
// Module names (checkpoints depend on them): conv1, norm1, stages.<i>.{conv1,norm1,conv2,norm2[,conv3,
// norm3][,shortcut_conv,shortcut_norm]}, fc; the stages are one Sequential, numbered across stages
// (features() knows where each stage ends).
#include <torch/torch.h>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class ResNetImpl : public Model {
 public:
  explicit ResNetImpl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]
  // The output of each stage (ImageNet layouts: C2–C5 at strides 4, 8, 16, 32; CIFAR: 3 stages at
  // 1, 2, 4); forward() is the classifier on the last.
  std::vector<torch::Tensor> features(torch::Tensor x) override;
  std::vector<int64_t> feature_channels() const override { return stage_channels_; }
  // The stage (1, 2, …) of block `block` of the stages (module stages.<block>).
  int64_t stage_of_block(size_t block) const;

 private:
  torch::nn::AnyModule stem_conv_, stem_norm_;
  torch::nn::Sequential stages_{nullptr};
  std::vector<size_t> stage_ends_;        // blocks of stages_ up to the end of each stage
  std::vector<int64_t> stage_channels_;
  bool imagenet_ = false;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

// Registry entries: resnet18/34/50/101/152, resnext50_32x4d/resnext101_32x8d, and resnet<6n+2>.
ModelEntry imagenet_resnet_entry();
ModelEntry resnext_entry();
ModelEntry cifar_resnet_entry();

}  // namespace eshift
