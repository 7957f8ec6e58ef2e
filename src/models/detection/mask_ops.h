#pragma once
// Masks between the image and a box's square grid (torchvision's roi_heads helpers).
//
// project_masks_on_boxes: the target of the mask head. Each sampled positive box's object mask,
// cropped to the box and resampled to M × M by RoIAlign (scale 1, adaptive sampling, aligned =
// false) of the 0/1 mask: soft values in [0, 1] at the box's edges. Computed on the CPU (the
// adaptive grid has only a CPU kernel), returned on the boxes' device.
//
// paste_masks_in_image: the mask head's M × M probabilities back into the image. The grid is padded
// by one zero cell a side and the box scaled by (M + 2)/M about its centre, so the padding lands
// just outside the box; the box's corners are truncated to integers (x1, y1, x2, y2), the padded
// grid resized bilinearly (align_corners = false) to (y2 − y1 + 1) × (x2 − x1 + 1) (at least
// 1 × 1) and written at (x1, y1), clipped to the image.
#include <torch/torch.h>

#include <array>

namespace eshift {

// masks uint8 [n, H, W] of an image, boxes [k, 4], matched int64 [k] (mask of each box), M
// → float [k, M, M] in the boxes' dtype.
torch::Tensor project_masks_on_boxes(const torch::Tensor& masks, const torch::Tensor& boxes,
                                     const torch::Tensor& matched, int64_t M);

// probabilities [n, M, M] and boxes [n, 4] in the image's pixels → [n, h, w].
torch::Tensor paste_masks_in_image(const torch::Tensor& probabilities, const torch::Tensor& boxes,
                                   std::array<int64_t, 2> image_hw, int64_t padding = 1);

}  // namespace eshift
