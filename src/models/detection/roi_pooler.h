#pragma once
// Multi-scale RoIAlign (torchvision's MultiScaleRoIAlign): each box pooled from the pyramid level
// that suits its size (FPN paper, eq. 1):
//   level k = clamp(⌊k0 + log2(√area / s0) + 1e-6⌋, k_min, k_max),   k0 = 4, s0 = 224,
// where level k has scale 2^−k, each level's scale inferred from its map height against the
// tallest image of the batch (before padding): 2^round(log2(h_map / h_image)). RoIAlign with the
// level's scale, `sampling_ratio` points a bin side and aligned = false (Mask R-CNN's in
// torchvision: 7×7 for boxes, 14×14 for masks, sampling ratio 2).
#include <torch/torch.h>

#include <array>
#include <vector>

namespace eshift {

class MultiScaleRoiAlign {
 public:
  MultiScaleRoiAlign(int64_t output_size, int64_t sampling_ratio, double canonical_scale = 224,
                     double canonical_level = 4);
  // features: P2–P5 [B, C, h, w]; boxes: per image [n_i, 4] → [Σ n_i, C, output, output], in the
  // order of the images and their boxes.
  torch::Tensor operator()(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes,
                           const std::vector<std::array<int64_t, 2>>& image_sizes) const;
  int64_t output_size() const { return output_size_; }

 private:
  int64_t output_size_, sampling_ratio_;
  double canonical_scale_, canonical_level_;
};

}  // namespace eshift
