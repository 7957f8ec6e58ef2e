#pragma once
// Two ShuffleNets. Every conv, depthwise and grouped ones included, is of the spec's family
// (depthwise weights get their own role, nn/param_roles.h; grouped 1×1 weights the ordinary one).
//
// shufflenet_v2_x1_0: ShuffleNet V2 1.0× (Ma et al. 2018, Table 5) as torchvision defines it, with
// torchvision's module names (a torchvision state dict loads by name with --wnorm none --norm bn):
//   conv1.0 3×3/2 (→ 24) + conv1.1 norm + ReLU, 3×3/2 max pool
//   stage2, stage3, stage4: 4, 8, 4 units with 116, 232, 464 output channels; the first unit of a
//     stage has stride 2. A unit's branches produce half of its output channels each:
//       branch1 (stride 2 only): .0 depthwise 3×3/2 + .1 norm, .2 1×1 + .3 norm + ReLU
//       branch2: .0 1×1 + .1 norm + ReLU, .3 depthwise 3×3 (stride) + .4 norm, .5 1×1 + .6 norm + ReLU
//     stride 1: the input's first half passes unchanged, branch2 takes the second half;
//     stride 2: both branches take the whole input. Then concatenate, channel shuffle with 2 groups.
//   conv5.0 1×1 (→ 1024) + conv5.1 norm + ReLU, global average pool, fc (1024 → classes)
//   Parameters with --wnorm none --norm bn, 1000 classes: 2,278,604 (torchvision's).
//
// shufflenet_v1_g3: ShuffleNet 1× with g = 3 groups (Zhang et al. 2018, "ShuffleNet", Table 1 and
// Fig. 2; as the authors' ShuffleNet-Series code):
//   conv1 3×3/2 (→ 24) + norm1 + ReLU, 3×3/2 max pool
//   stage2, stage3, stage4: 4, 8, 4 units with 240, 480, 960 output channels, the first of a stage
//     with stride 2. A unit, bottleneck m = out/4 channels:
//       conv1 1×1 grouped (g groups; not grouped in the first unit of stage 2: 24 input channels)
//       + norm1 + ReLU, channel shuffle (g groups), conv2 3×3 depthwise (stride) + norm2,
//       conv3 1×1 grouped (g groups) + norm3;
//     stride 1: relu(norm3 + input); stride 2: conv3 gives out − in channels, concatenated after
//     a 3×3/2 average pool of the input (the paper's Fig. 2c), then ReLU
//   global average pool, fc (960 → classes, with bias; the authors' code has none)
//   Parameters with --wnorm none --norm bn, 1000 classes: 1,865,728 (the paper's "~1.9M"). Per unit
//   in → out (m = out/4, o = out − in for stride 2, else out, g1 = 1 for the first unit, else 3):
//   in·m/g1 + 2m (conv1, norm1) + 9m + 2m (conv2, norm2) + m·o/3 + 2o (conv3, norm3):
//     conv1 + norm1: 3·9·24 + 2·24 = 696
//     stage2 (m = 60): 24→240: 1,440+120+540+120+4,320+432 = 6,972; 3× 240→240: 10,860 → 39,552
//     stage3 (m = 120): 240→480: 21,240; 7× 480→480: 40,920 → 307,680
//     stage4 (m = 240): 480→960: 80,880; 3× 960→960: 158,640 → 556,800
//     fc: 960·1000 + 1000 = 961,000
//     696 + 39,552 + 307,680 + 556,800 + 961,000 = 1,865,728
#include <torch/torch.h>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class ShuffleNetV2Impl : public Model {
 public:
  explicit ShuffleNetV2Impl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]

 private:
  torch::nn::AnyModule conv1_, norm1_, conv5_, norm5_;
  torch::nn::Sequential stage2_{nullptr}, stage3_{nullptr}, stage4_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ShuffleNetV2);

class ShuffleNetV1Impl : public Model {
 public:
  explicit ShuffleNetV1Impl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]

 private:
  torch::nn::AnyModule conv1_, norm1_;
  torch::nn::Sequential stage2_{nullptr}, stage3_{nullptr}, stage4_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ShuffleNetV1);

ModelEntry shufflenet_v2_entry();  // shufflenet_v2_x1_0
ModelEntry shufflenet_v1_entry();  // shufflenet_v1_g3

}  // namespace eshift
