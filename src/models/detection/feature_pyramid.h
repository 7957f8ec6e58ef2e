#pragma once
// The feature pyramid network (Lin et al. 2017; torchvision's FeaturePyramidNetwork with
// LastLevelMaxPool). From the backbone's stages C2–C5 (strides 4–32):
//   lateral_i = inner_blocks[i](C_i)                          1×1 conv to `channels`
//   top-down:  T5 = lateral_5,  T_i = lateral_i + nearest(T_{i+1}, size of C_i)
//   P_i = layer_blocks[i](T_i)                                 3×3 conv
//   P6 = max_pool(P5, kernel 1, stride 2)                      (the "pool" level the RPN reads)
// Convs by the model's family (head_conv.h): plain with bias, kaiming_uniform(a = 1), for
// --wnorm none (torchvision's); the family's conv + GroupNorm otherwise. No activation.
#include <torch/torch.h>

#include <vector>

#include "eshift/models/detection/head_conv.h"
#include "eshift/models/model_spec.h"

namespace eshift {

class FeaturePyramidImpl : public torch::nn::Module {
 public:
  FeaturePyramidImpl(const ModelSpec& spec, const std::vector<int64_t>& in_channels, int64_t channels = 256);
  // C2–C5 → P2–P6 (one more level than given, the last by max pooling).
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& stages);
  int64_t channels() const { return channels_; }

 private:
  torch::nn::ModuleList inner_blocks_, layer_blocks_;
  int64_t channels_;
};
TORCH_MODULE(FeaturePyramid);

}  // namespace eshift
