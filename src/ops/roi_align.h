#pragma once
// RoIAlign (He et al., Mask R-CNN), with torchvision.ops.roi_align's semantics exactly (its
// csrc/ops/cpu/roi_align_kernel.cpp and roi_align_common.h): the features under each box, pooled
// to a fixed grid by averaging bilinearly interpolated samples.
//
// input [N, C, H, W]; rois [K, 5] rows (b, x1, y1, x2, y2): b the image's index in the batch
// (truncated to an integer), the box in image coordinates; output [K, C, oh, ow]. Per RoI, with
// s = spatial_scale and off = 0.5 if aligned else 0 (all in the input's dtype T):
//
//   x0 = x1·s − off,  y0 = y1·s − off,  rw = x2·s − off − x0,  rh = y2·s − off − y0
//   not aligned: rw = max(rw, 1), rh = max(rh, 1)   (malformed boxes forced to 1×1; aligned keeps
//                                                    zero or negative sizes as they are)
//   bin_w = rw / ow,  bin_h = rh / oh
//   grid  gh = sampling_ratio > 0 ? sampling_ratio : ceil(rh / oh)   (gw alike with rw / ow)
//   sample (iy, ix) of output cell (ph, pw), iy < gh, ix < gw:
//     y = y0 + ph·bin_h + (iy + ½)·bin_h / gh,   x = x0 + pw·bin_w + (ix + ½)·bin_w / gw
//   out[k, c, ph, pw] = Σ_samples bilinear(input[b, c], y, x) / max(gh·gw, 1)
//
//   bilinear(F, y, x) on an H×W map F:
//     y < −1 or y > H or x < −1 or x > W (or NaN): 0      (the sample lies off the map)
//     y ← max(y, 0), x ← max(x, 0)
//     y_lo = ⌊y⌋; if y_lo ≥ H − 1: y_lo = y_hi = H − 1 and y = y_lo, else y_hi = y_lo + 1 (x alike)
//     ly = y − y_lo, lx = x − x_lo, hy = 1 − ly, hx = 1 − lx
//     = hy·hx·F[y_lo, x_lo] + hy·lx·F[y_lo, x_hi] + ly·hx·F[y_hi, x_lo] + ly·lx·F[y_hi, x_hi]
//
// The gradient w.r.t. input is the transpose: each sample adds (∂out · w_corner / (gh·gw)) to the
// four corners it read (a sample off the map adds nothing). rois get no gradient (detached, as in
// torchvision). The backward is not itself differentiable (no double backward).
//
// Where it runs:
//   CPU, float32/float64: hand-written kernels (roi_align.cpp), one autograd Function. The bilinear
//     weights and corner offsets of a RoI are computed once and reused over channels (torchvision's
//     pre_calc); forward runs RoIs in parallel (at::parallel_for), backward channels in parallel
//     (each grad_input element is written by one thread, in torchvision's order: deterministic).
//     A channels-last input runs an NHWC kernel (channels innermost) and gives a channels-last
//     output [K, C, oh, ow] and grad_input; otherwise NCHW (a non-contiguous input is copied
//     first). The values are the same either way.
//   other devices (CUDA): roi_align_reference below (LibTorch ops, through autograd); it needs
//     sampling_ratio > 0 (a fixed grid), else an error naming sampling_ratio.
//   float16/bfloat16 input: computed in float32 and the result cast back (torchvision's autocast
//     wrapper does the same).
// rois may be of any floating dtype and are converted to the input's dtype (torchvision requires
// them equal); they must be on the input's device, and every b must lie in [0, N).
#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace eshift {

// output_size = {oh, ow}.
torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, std::array<int64_t, 2> output_size,
                        double spatial_scale, int64_t sampling_ratio, bool aligned);

// The same function as composed LibTorch ops (any device, differentiable through autograd): the
// sample coordinates as tensors [K, oh·ow·gh·gw], the four corners gathered from the input viewed
// as [N·H·W, C] with index_select, weighted, summed, averaged. Only sampling_ratio > 0. Its memory
// is O(K·oh·ow·gh·gw·C) per corner. The output has channels-last strides. Equal to roi_align's
// kernel up to the order of summation over the samples (rounding).
torch::Tensor roi_align_reference(const torch::Tensor& input, const torch::Tensor& rois,
                                  std::array<int64_t, 2> output_size, double spatial_scale, int64_t sampling_ratio,
                                  bool aligned);

}  // namespace eshift
