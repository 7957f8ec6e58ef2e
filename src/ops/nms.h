#pragma once
// Non-maximum suppression (torchvision.ops.nms and batched_nms).
//
// Greedy, by decreasing score: the highest-scored box not yet suppressed is kept, and every later
// box whose IoU with it is STRICTLY greater than iou_threshold is suppressed (IoU exactly at the
// threshold survives). IoU as box_ops.h: inter / (area_i + area_j − inter), areas (x2 − x1)·(y2 − y1),
// no "+1" (torchvision's csrc/ops/cpu/nms_kernel.cpp, the same arithmetic in the box dtype).
//
// Order of equal scores: a stable sort by descending score, so tied boxes are visited (and kept) in
// index order. torchvision calls the unstable scores.sort(0, descending=True): on CUDA that sort is
// stable (the same order as here); on CPU LibTorch's std::sort keeps index order for N ≤ 16 and is
// arbitrary (but deterministic) among ties beyond that. So the results equal torchvision's except
// where more than 16 boxes are given on CPU and two tied boxes overlap each other above the
// threshold (then either one may be torchvision's survivor).
//
// Devices: the kernel runs on the CPU (float32 or float64 boxes; float16/bfloat16 boxes are computed
// in float32). A tensor on another device is copied to the CPU and the indices are returned on the
// input's device. Nothing here is differentiable (the result is indices).
#include <torch/torch.h>

namespace eshift {

// boxes [N, 4] (x1, y1, x2, y2), scores [N] (any floating dtype) → int64 [K]: the kept indices,
// sorted by decreasing score (ties: increasing index). N = 0 gives an empty int64 tensor.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold);

// NMS within each category: boxes of different idxs never suppress each other. As torchvision's
// batched_nms on the CPU: up to kBatchedNmsTrickMaxNumel box coordinates (1000 boxes),
// _batched_nms_coordinate_trick: each box is shifted by idxs·(max coordinate + 1) (max over all of
// `boxes`, in the box dtype), so boxes of different categories cannot overlap, and one nms() runs
// over all of them; above that, _batched_nms_vanilla: one nms() per category, Σ n_c² pairs instead
// of N² (make bench-detection-ops times 5000 boxes over 80 categories). The kept set is the
// same either way (up to the rounding the shift adds). Returns int64 indices sorted by decreasing
// score, ties in index order; empty input → empty int64. Like torchvision, the trick assumes
// coordinates ≥ 0 (a negative coordinate could make two categories overlap) and idxs ≥ 0.
constexpr int64_t kBatchedNmsTrickMaxNumel = 4000;
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& idxs,
                          double iou_threshold);

}  // namespace eshift
