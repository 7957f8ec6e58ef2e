#pragma once
// Which ground-truth object each anchor or proposal learns from, and which of them a training step
// uses (torchvision's detection _utils.Matcher and BalancedPositiveNegativeSampler).
//
// Matcher, on the IoU matrix [objects, candidates]: each candidate's best object o and IoU q:
//   q ≥ high         → matched to o
//   low ≤ q < high   → kBetweenThresholds (−2): ignored
//   q < low          → kBelowLowThreshold (−1): background
// With low-quality matches allowed (the RPN), each object's best candidates — every candidate whose
// IoU equals the object's highest, ties included — keep their best object whatever their IoU, so
// that no object is left without a candidate.
//
// Sampler, on labels per candidate (≥ 1 object, 0 background, −1 ignored): up to
// ⌊batch·fraction⌋ positives, and negatives to fill the batch, each drawn uniformly without
// replacement by torch::randperm (LibTorch's default generator: a seeded run draws the same
// candidates as torchvision's).
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace eshift {

struct Matcher {
  static constexpr int64_t kBelowLowThreshold = -1;
  static constexpr int64_t kBetweenThresholds = -2;
  double high = 0.7, low = 0.3;
  bool allow_low_quality_matches = false;

  // IoU [objects, candidates] (objects ≥ 1) → int64 [candidates]: an object index, −1 or −2.
  torch::Tensor operator()(const torch::Tensor& quality) const;
};

struct BalancedSampler {
  int64_t batch_size_per_image = 256;
  double positive_fraction = 0.5;

  // Labels [n] of one image → the sampled positives' and negatives' masks (bool [n] each).
  std::pair<torch::Tensor, torch::Tensor> operator()(const torch::Tensor& labels) const;
};

}  // namespace eshift
