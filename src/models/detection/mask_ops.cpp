#include "eshift/models/detection/mask_ops.h"

#include <algorithm>

#include "eshift/ops/roi_align.h"

namespace eshift {

torch::Tensor project_masks_on_boxes(const torch::Tensor& masks, const torch::Tensor& boxes,
                                     const torch::Tensor& matched, int64_t M) {
  // adaptive sampling has a CPU kernel only (ops/roi_align.h): targets of GPU batches go through the CPU
  const auto rois = torch::cat({matched.to(boxes.scalar_type()).unsqueeze(1), boxes}, 1).detach().to(torch::kCPU);
  const auto input = masks.to(torch::kCPU).unsqueeze(1).to(boxes.scalar_type());
  return roi_align(input, rois, {M, M}, 1.0, -1, false).select(1, 0).to(boxes.device());
}

torch::Tensor paste_masks_in_image(const torch::Tensor& probabilities, const torch::Tensor& boxes,
                                   std::array<int64_t, 2> image_hw, int64_t padding) {
  const int64_t n = probabilities.size(0), M = probabilities.size(-1);
  const auto [im_h, im_w] = image_hw;
  auto out = torch::zeros({n, im_h, im_w}, probabilities.options());
  if (n == 0) return out;
  const auto padded = torch::constant_pad_nd(probabilities, {padding, padding, padding, padding});
  const double scale = double(M + 2 * padding) / double(M);
  // torchvision's expand_boxes: the box scaled about its centre, then truncated to integers
  const auto b = boxes.to(torch::kCPU);
  const auto half_w = (b.select(1, 2) - b.select(1, 0)) * 0.5 * scale, half_h = (b.select(1, 3) - b.select(1, 1)) * 0.5 * scale;
  const auto cx = (b.select(1, 2) + b.select(1, 0)) * 0.5, cy = (b.select(1, 3) + b.select(1, 1)) * 0.5;
  const auto expanded = torch::stack({cx - half_w, cy - half_h, cx + half_w, cy + half_h}, 1).to(torch::kLong).contiguous();
  const auto e = expanded.accessor<int64_t, 2>();
  namespace F = torch::nn::functional;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x1 = e[i][0], y1 = e[i][1], x2 = e[i][2], y2 = e[i][3];
    const int64_t w = std::max<int64_t>(x2 - x1 + 1, 1), h = std::max<int64_t>(y2 - y1 + 1, 1);
    const auto resized = F::interpolate(padded[i].view({1, 1, M + 2 * padding, M + 2 * padding}),
                                        F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{h, w})
                                            .mode(torch::kBilinear)
                                            .align_corners(false))[0][0];
    const int64_t x0 = std::max<int64_t>(x1, 0), x_end = std::min<int64_t>(x2 + 1, im_w);
    const int64_t y0 = std::max<int64_t>(y1, 0), y_end = std::min<int64_t>(y2 + 1, im_h);
    if (x0 >= x_end || y0 >= y_end) continue;
    out[i].slice(0, y0, y_end).slice(1, x0, x_end).copy_(
        resized.slice(0, y0 - y1, y_end - y1).slice(1, x0 - x1, x_end - x1));
  }
  return out;
}

}  // namespace eshift
