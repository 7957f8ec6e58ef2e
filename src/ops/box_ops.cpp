#include "eshift/ops/box_ops.h"

namespace eshift {
namespace {

void check_boxes(const torch::Tensor& boxes, const char* name) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, name, " must be [N, 4] boxes (x1, y1, x2, y2), got ",
              boxes.sizes());
}

// torchvision's _upcast: float16/bfloat16 → float32; small integer types → int32.
torch::Tensor upcast(const torch::Tensor& t) {
  if (t.is_floating_point())
    return (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble) ? t : t.to(torch::kFloat);
  return (t.scalar_type() == torch::kInt || t.scalar_type() == torch::kLong) ? t : t.to(torch::kInt);
}

}  // namespace

torch::Tensor box_area(const torch::Tensor& boxes) {
  check_boxes(boxes, "box_area: boxes");
  auto b = upcast(boxes);
  return (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  check_boxes(a, "box_iou: first boxes");
  check_boxes(b, "box_iou: second boxes");
  using torch::indexing::Slice;
  auto area_a = box_area(a);
  auto area_b = box_area(b);
  auto lt = torch::max(a.index({Slice(), torch::indexing::None, Slice(0, 2)}), b.index({Slice(), Slice(0, 2)}));
  auto rb = torch::min(a.index({Slice(), torch::indexing::None, Slice(2, 4)}), b.index({Slice(), Slice(2, 4)}));
  auto wh = upcast(rb - lt).clamp_min(0);                       // [N, M, 2]
  auto inter = wh.select(2, 0) * wh.select(2, 1);               // [N, M]
  auto uni = area_a.unsqueeze(1) + area_b - inter;
  return inter / uni;
}

torch::Tensor clip_boxes_to_image(const torch::Tensor& boxes, std::array<int64_t, 2> size_hw) {
  TORCH_CHECK(boxes.dim() >= 1 && boxes.size(-1) == 4, "clip_boxes_to_image: boxes must be [..., 4], got ",
              boxes.sizes());
  using torch::indexing::Ellipsis;
  using torch::indexing::Slice;
  auto xs = boxes.index({Ellipsis, Slice(0, torch::indexing::None, 2)}).clamp(0, size_hw[1]);
  auto ys = boxes.index({Ellipsis, Slice(1, torch::indexing::None, 2)}).clamp(0, size_hw[0]);
  return torch::stack({xs, ys}, boxes.dim()).reshape(boxes.sizes());
}

torch::Tensor remove_small_boxes(const torch::Tensor& boxes, double min_size) {
  check_boxes(boxes, "remove_small_boxes: boxes");
  auto ws = boxes.select(1, 2) - boxes.select(1, 0);
  auto hs = boxes.select(1, 3) - boxes.select(1, 1);
  auto keep = ws.ge(min_size).logical_and(hs.ge(min_size));
  return keep.nonzero().select(1, 0);
}

}  // namespace eshift
