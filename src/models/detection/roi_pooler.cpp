#include "eshift/models/detection/roi_pooler.h"

#include <algorithm>
#include <cmath>

#include "eshift/ops/box_ops.h"
#include "eshift/ops/roi_align.h"

namespace eshift {

MultiScaleRoiAlign::MultiScaleRoiAlign(int64_t output_size, int64_t sampling_ratio, double canonical_scale,
                                       double canonical_level)
    : output_size_(output_size),
      sampling_ratio_(sampling_ratio),
      canonical_scale_(canonical_scale),
      canonical_level_(canonical_level) {
  TORCH_CHECK(output_size > 0, "RoIAlign's output size must be > 0");
}

namespace {
// 2^round(log2(map / image)), in float32 as torchvision computes it
double infer_scale(int64_t map_size, int64_t image_size) {
  const float approx = float(double(map_size) / double(image_size));
  return std::pow(2.0, double(torch::tensor(approx).log2().round().item<float>()));
}
}  // namespace

torch::Tensor MultiScaleRoiAlign::operator()(const std::vector<torch::Tensor>& features,
                                             const std::vector<torch::Tensor>& boxes,
                                             const std::vector<std::array<int64_t, 2>>& image_sizes) const {
  TORCH_CHECK(!features.empty() && boxes.size() == image_sizes.size(), "multi-scale RoIAlign needs features and boxes an image");
  int64_t max_h = 0;
  for (const auto& s : image_sizes) max_h = std::max(max_h, s[0]);
  std::vector<double> scales;
  for (const auto& f : features) scales.push_back(infer_scale(f.size(-2), max_h));

  // rois [K, 5]: image index, x1, y1, x2, y2
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < boxes.size(); ++i)
    parts.push_back(torch::cat({torch::full({boxes[i].size(0), 1}, double(i), boxes[i].options()), boxes[i]}, 1));
  const auto rois = torch::cat(parts);
  const std::array<int64_t, 2> size{output_size_, output_size_};
  if (features.size() == 1) return roi_align(features[0], rois, size, scales[0], sampling_ratio_, false);

  const double k_min = -std::log2(scales.front()), k_max = -std::log2(scales.back());
  const auto all_boxes = torch::cat(boxes);
  const auto s = torch::sqrt(box_area(all_boxes));
  const auto levels = (torch::floor(canonical_level_ + torch::log2(s / canonical_scale_) +
                                    torch::tensor(1e-6, s.options()))
                           .clamp(k_min, k_max)
                           .to(torch::kLong) -
                       int64_t(k_min));
  auto result = torch::zeros({rois.size(0), features[0].size(1), output_size_, output_size_}, features[0].options());
  for (size_t l = 0; l < features.size(); ++l) {
    const auto index = torch::nonzero(levels == int64_t(l)).select(1, 0);
    if (index.numel() == 0) continue;
    result = result.index_put({index},
                              roi_align(features[l], rois.index({index}), size, scales[l], sampling_ratio_, false)
                                  .to(result.scalar_type()));
  }
  return result;
}

}  // namespace eshift
