#include "eshift/models/detection/anchor_generator.h"

#include <stdexcept>

namespace eshift {

AnchorGenerator::AnchorGenerator(std::vector<std::vector<double>> sizes, std::vector<std::vector<double>> aspect_ratios)
    : sizes_(std::move(sizes)), ratios_(std::move(aspect_ratios)) {
  if (sizes_.empty() || sizes_.size() != ratios_.size())
    throw std::invalid_argument("anchors need sizes and aspect ratios for the same levels (" +
                                std::to_string(sizes_.size()) + " and " + std::to_string(ratios_.size()) + ")");
  for (size_t l = 0; l < sizes_.size(); ++l) {
    if (sizes_[l].empty() || ratios_[l].empty())
      throw std::invalid_argument("anchor level " + std::to_string(l) + " has no sizes or no ratios");
    for (double s : sizes_[l])
      if (!(s > 0)) throw std::invalid_argument("anchor sizes must be > 0, got " + std::to_string(s));
    for (double r : ratios_[l])
      if (!(r > 0)) throw std::invalid_argument("anchor aspect ratios must be > 0, got " + std::to_string(r));
  }
}

AnchorGenerator AnchorGenerator::fpn_default() {
  return AnchorGenerator({{32}, {64}, {128}, {256}, {512}}, std::vector<std::vector<double>>(5, {0.5, 1.0, 2.0}));
}

torch::Tensor AnchorGenerator::base_anchors(size_t level) const {
  const auto scales = torch::tensor(sizes_.at(level), torch::kFloat32);
  const auto ratios = torch::tensor(ratios_.at(level), torch::kFloat32);
  const auto h_ratios = torch::sqrt(ratios), w_ratios = 1 / h_ratios;
  const auto ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
  const auto hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape(-1);
  return (torch::stack({-ws, -hs, ws, hs}, 1) / 2).round();
}

torch::Tensor AnchorGenerator::operator()(std::array<int64_t, 2> batch_hw, const std::vector<torch::Tensor>& features) const {
  TORCH_CHECK(features.size() == sizes_.size(), "the anchors have ", sizes_.size(), " levels and the features ",
              features.size());
  std::vector<torch::Tensor> levels;
  for (size_t l = 0; l < features.size(); ++l) {
    const int64_t h = features[l].size(-2), w = features[l].size(-1);
    const int64_t stride_h = batch_hw[0] / h, stride_w = batch_hw[1] / w;
    const auto options = torch::TensorOptions().dtype(torch::kLong).device(features[l].device());
    const auto shifts_x = torch::arange(0, w, options) * stride_w;
    const auto shifts_y = torch::arange(0, h, options) * stride_h;
    const auto grid = torch::meshgrid({shifts_y, shifts_x}, "ij");
    const auto sy = grid[0].reshape(-1), sx = grid[1].reshape(-1);
    const auto shifts = torch::stack({sx, sy, sx, sy}, 1).to(features[l].scalar_type());
    const auto base = base_anchors(l).to(features[l].options());
    levels.push_back((shifts.view({-1, 1, 4}) + base.view({1, -1, 4})).reshape({-1, 4}));
  }
  return torch::cat(levels);
}

}  // namespace eshift
