#pragma once
// A conv of the detector's neck and heads (the FPN, the mask head), by the model's weight family:
//   --wnorm none: torchvision's, a plain conv with a bias (initialized as the layer asks);
//   --wnorm ws | wn | cwn: the family's conv, bias-free, then GroupNorm with 32 groups (mmdetection's
//     WS + GN detectors, the paper's COCO setting), so that every such weight is scale-invariant and
//     the ε-shift reaches it by its role;
// then ReLU when asked. Submodules: conv[, norm]. "Same" padding, stride 1.
#include <torch/torch.h>

#include "eshift/models/model_spec.h"

namespace eshift {

enum class HeadConvInit {
  KaimingUniformA1,     // torchvision's FPN: kaiming_uniform_(a = 1), bias 0
  KaimingNormalFanOut,  // torchvision's mask head: kaiming_normal_(fan_out, relu), bias 0
};

class HeadConvImpl : public torch::nn::Module {
 public:
  HeadConvImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, bool relu, HeadConvInit init);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::AnyModule conv_, norm_;
  bool relu_;
};
TORCH_MODULE(HeadConv);

}  // namespace eshift
