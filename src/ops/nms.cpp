#include "eshift/ops/nms.h"

#include <ATen/Dispatch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace eshift {
namespace {

template <typename T>
torch::Tensor nms_cpu(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  const int64_t n = boxes.size(0);
  auto b = boxes.contiguous();
  const T* box = b.data_ptr<T>();
  // visiting order: descending score, ties in index order
  auto order_t = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true)).contiguous();
  const int64_t* order = order_t.data_ptr<int64_t>();

  // coordinates and areas in visiting order: the inner loop reads them sequentially
  std::vector<T> x1(n), y1(n), x2(n), y2(n), area(n);
  for (int64_t r = 0; r < n; ++r) {
    const T* p = box + 4 * order[r];
    x1[r] = p[0], y1[r] = p[1], x2[r] = p[2], y2[r] = p[3];
    area[r] = (x2[r] - x1[r]) * (y2[r] - y1[r]);
  }
  // the threshold in T, chosen so that iou > threshold_t ⟺ iou > iou_threshold for every T value
  // (torchvision compares in double): the largest T not above iou_threshold
  T threshold_t = static_cast<T>(iou_threshold);
  if (static_cast<double>(threshold_t) > iou_threshold)
    threshold_t = std::nextafter(threshold_t, -std::numeric_limits<T>::infinity());

  std::vector<uint8_t> suppressed(n, 0);
  auto keep_t = torch::empty({n}, torch::kLong);
  int64_t* keep = keep_t.data_ptr<int64_t>();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (suppressed[i]) continue;
    keep[kept++] = order[i];
    const T ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = area[i];
    // branch-free, so that the compiler vectorizes it: testing an already suppressed box again
    // changes nothing (the flag only goes from 0 to 1)
    uint8_t* sup = suppressed.data();
    for (int64_t j = i + 1; j < n; ++j) {
      const T w = std::max(static_cast<T>(0), std::min(ix2, x2[j]) - std::max(ix1, x1[j]));
      const T h = std::max(static_cast<T>(0), std::min(iy2, y2[j]) - std::max(iy1, y1[j]));
      const T inter = w * h;
      const T iou = inter / (iarea + area[j] - inter);
      sup[j] |= static_cast<uint8_t>(iou > threshold_t);
    }
  }
  return keep_t.narrow(0, 0, kept);
}

}  // namespace

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be [N, 4], got ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be [N] with N = ",
              boxes.size(0), " (the boxes), got ", scores.sizes());
  TORCH_CHECK(boxes.is_floating_point() && scores.is_floating_point(),
              "nms: boxes and scores must be floating point, got ", boxes.scalar_type(), " and ",
              scores.scalar_type());
  TORCH_CHECK(boxes.device() == scores.device(), "nms: boxes are on ", boxes.device(), ", scores on ",
              scores.device());
  if (boxes.size(0) == 0) return torch::empty({0}, boxes.options().dtype(torch::kLong));
  if (!boxes.is_cpu()) return nms(boxes.cpu(), scores.cpu(), iou_threshold).to(boxes.device());

  torch::NoGradGuard no_grad;
  auto b = boxes.detach();
  if (b.scalar_type() != torch::kFloat && b.scalar_type() != torch::kDouble) b = b.to(torch::kFloat);
  torch::Tensor keep;
  AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "eshift::nms", [&] {
    keep = nms_cpu<scalar_t>(b, scores.detach(), iou_threshold);
  });
  return keep;
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& idxs,
                          double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "batched_nms: boxes must be [N, 4], got ", boxes.sizes());
  TORCH_CHECK(idxs.dim() == 1 && idxs.size(0) == boxes.size(0), "batched_nms: idxs must be [N] with N = ",
              boxes.size(0), " (the boxes), got ", idxs.sizes());
  if (boxes.numel() == 0) return torch::empty({0}, boxes.options().dtype(torch::kLong));
  torch::NoGradGuard no_grad;
  auto b = boxes.detach();
  if (boxes.numel() <= kBatchedNmsTrickMaxNumel) {
    // torchvision: offsets = idxs.to(boxes) * (boxes.max() + 1), all in the box dtype
    auto offsets = idxs.to(b.options()) * (b.max() + 1);
    return nms(b + offsets.unsqueeze(1), scores, iou_threshold);
  }
  // one NMS per category: Σ n_c² pairs instead of N²
  const auto categories = std::get<0>(at::_unique(idxs.cpu(), /*sorted=*/true));
  std::vector<torch::Tensor> kept;
  for (int64_t c = 0; c < categories.size(0); ++c) {
    const auto members = torch::nonzero(idxs == categories[c].to(idxs.device())).select(1, 0);
    kept.push_back(members.index({nms(b.index({members}), scores.index({members}), iou_threshold)}));
  }
  // by decreasing score, ties in index order (what the single NMS of the trick returns)
  const auto keep = std::get<0>(torch::cat(kept).sort());
  const auto order = std::get<1>(scores.index({keep}).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  return keep.index({order});
}

}  // namespace eshift
