#include "eshift/models/detection/box_coder.h"

namespace eshift {

torch::Tensor BoxCoder::encode(const torch::Tensor& boxes, const torch::Tensor& references) const {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && references.sizes() == boxes.sizes(),
              "BoxCoder::encode needs boxes [N, 4] and references [N, 4]");
  const auto ref = references.to(boxes.scalar_type());
  const auto ref_w = ref.select(1, 2) - ref.select(1, 0), ref_h = ref.select(1, 3) - ref.select(1, 1);
  const auto ref_cx = ref.select(1, 0) + 0.5 * ref_w, ref_cy = ref.select(1, 1) + 0.5 * ref_h;
  const auto w = boxes.select(1, 2) - boxes.select(1, 0), h = boxes.select(1, 3) - boxes.select(1, 1);
  const auto cx = boxes.select(1, 0) + 0.5 * w, cy = boxes.select(1, 1) + 0.5 * h;
  return torch::stack({weights[0] * (cx - ref_cx) / ref_w, weights[1] * (cy - ref_cy) / ref_h,
                       weights[2] * torch::log(w / ref_w), weights[3] * torch::log(h / ref_h)},
                      1);
}

torch::Tensor BoxCoder::decode(const torch::Tensor& codes, const torch::Tensor& references) const {
  TORCH_CHECK(codes.dim() == 2 && codes.size(1) % 4 == 0 && references.dim() == 2 && references.size(1) == 4 &&
                  references.size(0) == codes.size(0),
              "BoxCoder::decode needs codes [N, 4k] and references [N, 4]");
  const auto ref = references.to(codes.scalar_type());
  const auto w = (ref.select(1, 2) - ref.select(1, 0)).unsqueeze(1);
  const auto h = (ref.select(1, 3) - ref.select(1, 1)).unsqueeze(1);
  const auto cx = ref.select(1, 0).unsqueeze(1) + 0.5 * w, cy = ref.select(1, 1).unsqueeze(1) + 0.5 * h;
  using torch::indexing::Slice;
  const auto dx = codes.index({Slice(), Slice(0, torch::indexing::None, 4)}) / weights[0];
  const auto dy = codes.index({Slice(), Slice(1, torch::indexing::None, 4)}) / weights[1];
  const auto dw = (codes.index({Slice(), Slice(2, torch::indexing::None, 4)}) / weights[2]).clamp_max(clip);
  const auto dh = (codes.index({Slice(), Slice(3, torch::indexing::None, 4)}) / weights[3]).clamp_max(clip);
  const auto pred_cx = dx * w + cx, pred_cy = dy * h + cy;
  const auto half_w = 0.5 * (torch::exp(dw) * w), half_h = 0.5 * (torch::exp(dh) * h);
  return torch::stack({pred_cx - half_w, pred_cy - half_h, pred_cx + half_w, pred_cy + half_h}, 2);
}

}  // namespace eshift
