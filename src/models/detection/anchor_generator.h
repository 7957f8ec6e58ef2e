#pragma once
// Anchors: the reference boxes the RPN scores and moves (torchvision's AnchorGenerator).
// Level l has sizes s and aspect ratios r (h/w); its base anchors, centred on 0, are, for each
// ratio (outer) and size (inner),
//   h_r = √r, w_r = 1/h_r,  w = w_r·s, h = h_r·s,  round((−w/2, −h/2, w/2, h/2))
// (round half to even, as torch.round). They repeat at every cell (i, j) of the level's map,
// shifted by (j·stride_w, i·stride_h, j·stride_w, i·stride_h), where stride = padded batch size //
// map size per side; anchors are ordered cell by cell (row-major), base anchors within a cell.
// Mask R-CNN's: sizes 32, 64, 128, 256, 512 on P2–P6, ratios 0.5, 1, 2 on each: 3 anchors a cell.
#include <torch/torch.h>

#include <array>
#include <vector>

namespace eshift {

class AnchorGenerator {
 public:
  AnchorGenerator(std::vector<std::vector<double>> sizes, std::vector<std::vector<double>> aspect_ratios);
  // torchvision's for the FPN detectors: one size a level (32 … 512), ratios 0.5, 1, 2.
  static AnchorGenerator fpn_default();

  int64_t anchors_per_location(size_t level) const { return int64_t(sizes_.at(level).size() * ratios_.at(level).size()); }
  size_t num_levels() const { return sizes_.size(); }
  // The base anchors of a level [sizes·ratios, 4] (float32).
  torch::Tensor base_anchors(size_t level) const;
  // The anchors of every level for a padded batch of size `batch_hw` whose feature maps are
  // `features` (one a level, [B, C, h, w]): [Σ h·w·A, 4] in the features' dtype and device, the
  // same for every image of the batch.
  torch::Tensor operator()(std::array<int64_t, 2> batch_hw, const std::vector<torch::Tensor>& features) const;

 private:
  std::vector<std::vector<double>> sizes_, ratios_;
};

}  // namespace eshift
