#pragma once
// Box arithmetic of torchvision.ops.boxes, as plain LibTorch expressions: any device, and
// differentiable wherever the expressions are (area, IoU, clipping).
//
// A box is a row (x1, y1, x2, y2) in image coordinates, 0 ≤ x1 < x2 and 0 ≤ y1 < y2 expected (not
// checked). No "+1" anywhere (a box is a continuous region, not a set of pixels):
//
//   area(b)        = (x2 − x1)·(y2 − y1)
//   inter(a, b)    = max(0, min(a.x2, b.x2) − max(a.x1, b.x1)) · max(0, min(a.y2, b.y2) − max(a.y1, b.y1))
//   union(a, b)    = area(a) + area(b) − inter(a, b)
//   IoU(a, b)      = inter / union        (0/0 = NaN for two empty boxes, as torchvision)
//
// Dtypes follow torchvision's _upcast: float16/bfloat16 are computed in float32, float32/float64 as
// they are; integer boxes in int32/int64 (smaller integer types in int32); IoU of integer boxes is
// torch's true division, a float tensor.
#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace eshift {

// [N, 4] → [N]: (x2 − x1)·(y2 − y1).
torch::Tensor box_area(const torch::Tensor& boxes);

// [N, 4], [M, 4] → [N, M]: IoU(a_i, b_j) as above (torchvision's box_iou / _box_inter_union).
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);

// [..., 4] → same shape: x1, x2 clamped to [0, w], y1, y2 to [0, h]; size_hw = {h, w}. The gradient
// is torch's clamp's (passed where the coordinate lies within [0, w] / [0, h], bounds included).
torch::Tensor clip_boxes_to_image(const torch::Tensor& boxes, std::array<int64_t, 2> size_hw);

// [N, 4] → int64 [K]: the indices, ascending, of the boxes with x2 − x1 ≥ min_size and
// y2 − y1 ≥ min_size (both sides; torchvision's remove_small_boxes keeps these despite its docstring's
// "larger than").
torch::Tensor remove_small_boxes(const torch::Tensor& boxes, double min_size);

}  // namespace eshift
