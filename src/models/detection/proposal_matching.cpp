#include "eshift/models/detection/proposal_matching.h"

#include <algorithm>

namespace eshift {

torch::Tensor Matcher::operator()(const torch::Tensor& quality) const {
  TORCH_CHECK(quality.dim() == 2 && quality.size(0) > 0, "the matcher needs IoUs [objects ≥ 1, candidates]");
  TORCH_CHECK(low <= high, "the matcher's low threshold ", low, " exceeds its high threshold ", high);
  auto [best_quality, matches] = quality.max(0);
  const torch::Tensor best_object = allow_low_quality_matches ? matches.clone() : torch::Tensor();
  matches.masked_fill_(best_quality < low, kBelowLowThreshold);
  matches.masked_fill_((best_quality >= low) & (best_quality < high), kBetweenThresholds);
  if (allow_low_quality_matches) {
    const auto highest_per_object = std::get<0>(quality.max(1));
    const auto pairs = torch::nonzero(quality == highest_per_object.unsqueeze(1));  // [k, 2]: object, candidate
    const auto candidates = pairs.select(1, 1);
    matches.index_put_({candidates}, best_object.index({candidates}));
  }
  return matches;
}

std::pair<torch::Tensor, torch::Tensor> BalancedSampler::operator()(const torch::Tensor& labels) const {
  const auto positive = torch::nonzero(labels >= 1).select(1, 0);
  const auto negative = torch::nonzero(labels == 0).select(1, 0);
  const int64_t num_pos = std::min<int64_t>(positive.numel(), int64_t(batch_size_per_image * positive_fraction));
  const int64_t num_neg = std::min<int64_t>(negative.numel(), batch_size_per_image - num_pos);
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(labels.device());
  const auto pick_pos = positive.index({torch::randperm(positive.numel(), long_options).slice(0, 0, num_pos)});
  const auto pick_neg = negative.index({torch::randperm(negative.numel(), long_options).slice(0, 0, num_neg)});
  auto pos_mask = torch::zeros({labels.size(0)}, labels.options().dtype(torch::kBool));
  auto neg_mask = torch::zeros_like(pos_mask);
  pos_mask.index_fill_(0, pick_pos, true);
  neg_mask.index_fill_(0, pick_neg, true);
  return {pos_mask, neg_mask};
}

}  // namespace eshift
