#pragma once
// mobilenet_v1: MobileNet (Howard et al. 2017, "MobileNets", Table 1), width multiplier 1.0, for
// 224×224 inputs:
//   conv1 3×3/2 (→ 32) + norm1 + ReLU
//   13 depthwise-separable blocks (blocks.<i>): dw_conv 3×3 depthwise (stride s) + dw_norm + ReLU,
//     pw_conv 1×1 + pw_norm + ReLU; (out channels, s): (64,1) (128,2) (128,1) (256,2) (256,1)
//     (512,2) 5×(512,1) (1024,2) (1024,1)  (Table 1's last depthwise stride is 1: its output is 7×7)
//   global average pool, fc (1024 → classes, with bias)
// Every conv, depthwise ones included, is of the spec's family (depthwise weights get their own role,
// nn/param_roles.h).
// Parameters with --wnorm none --norm bn, 1000 classes: 4,231,976 (the paper's 4.2M):
//   conv1 3·9·32 = 864, its BN 2·32 = 64
//   a block C_in → C_out: depthwise 9·C_in + BN 2·C_in, pointwise C_in·C_out + BN 2·C_out;
//     Σ C_in·C_out = 3,139,584, Σ 11·C_in = 11·4,960 = 54,560, Σ 2·C_out = 2·5,952 = 11,904
//     → 3,206,048 over the 13 blocks
//   fc 1024·1000 + 1000 = 1,025,000
//   864 + 64 + 3,206,048 + 1,025,000 = 4,231,976
#include <torch/torch.h>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class MobileNetV1Impl : public Model {
 public:
  explicit MobileNetV1Impl(const ModelSpec& spec);
  torch::Tensor forward(torch::Tensor x) override;  // logits [B, num_classes]

 private:
  torch::nn::AnyModule conv1_, norm1_;
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(MobileNetV1);

ModelEntry mobilenet_v1_entry();  // mobilenet_v1

}  // namespace eshift
