#pragma once
// What a detector learns from one image: its objects' boxes, classes and masks, and the image's
// sizes before and after the transform (detection.h states the conventions).
#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace eshift {

struct DetectionTarget {
  int64_t image_id = 0;
  torch::Tensor boxes;   // float32 [n, 4] x1, y1, x2, y2
  torch::Tensor labels;  // int64 [n], 1..K
  torch::Tensor masks;   // uint8 [n, h, w]; undefined when the dataset gives none
  std::array<int64_t, 2> original_size{}, size{};  // h, w before and after the transform

  // The same target with its tensors on `device`.
  DetectionTarget to(const torch::Device& device) const {
    DetectionTarget out = *this;
    out.boxes = boxes.to(device);
    out.labels = labels.to(device);
    if (masks.defined()) out.masks = masks.to(device);
    return out;
  }
};

}  // namespace eshift
