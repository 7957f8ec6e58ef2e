#pragma once
// densenet201: DenseNet-BC (Huang et al. 2017, "Densely Connected Convolutional Networks", Table 1)
// as torchvision defines it: growth rate k = 32, dense blocks of 6, 12, 48, 32 layers, bottleneck
// width bn_size·k = 4·32 = 128, 64 initial features, compression 0.5.
//   features.conv0 7×7/2 (64), features.norm0 + ReLU, max pool 3×3/2
//   features.denseblock<b>.denselayer<l>: pre-activation, on the concatenation of every earlier
//     output of the block: norm1 + ReLU, conv1 1×1 (→ 128), norm2 + ReLU, conv2 3×3 (→ 32); the
//     block's output is its input and all 32-channel outputs concatenated
//   features.transition<b> (after blocks 1–3): norm + ReLU, conv 1×1 halving the channels, 2×2/2
//     average pool
//   features.norm5 + ReLU, global average pool, classifier (linear, 1920 → classes)
// The module names are torchvision's, so a torchvision state dict loads by name (with --wnorm none
// --norm bn; GroupNorm has no running statistics).
//
// Every conv is made by make_conv, of the spec's family. Scale invariance: conv0 and every conv1
// feed a norm directly. A conv2 (and a transition conv) feeds a concatenation that only norms read:
// the norm1 of every later layer of its block, the next transition's norm (and, through the
// per-channel average pool, the next block's norms), or norm5. With BatchNorm (per channel) each of
// its filters is therefore still scale-invariant in training mode; with GroupNorm a group mixes
// channels of several convs, so a filter (or one conv's whole weight) is not invariant on its own.
// The paper's code swaps nn.Conv2d for its WS conv wholesale (the authors' PytorchInsight,
// classification/models/layers.py: every conv it builds, grouped ones included, standardized, the
// norms unchanged); eshift does the same here: every conv of DenseNet is made by make_conv.
#include <torch/torch.h>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class DenseNetFeaturesImpl;  // torchvision's `features` (densenet.cpp)

class DenseNetImpl : public Model {
 public:
  explicit DenseNetImpl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]

 private:
  std::shared_ptr<DenseNetFeaturesImpl> features_;
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(DenseNet);

ModelEntry densenet_entry();  // densenet201

}  // namespace eshift
