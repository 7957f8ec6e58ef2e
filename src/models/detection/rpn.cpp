#include "eshift/models/detection/rpn.h"

#include <algorithm>

#include "eshift/ops/box_ops.h"
#include "eshift/ops/nms.h"

namespace eshift {

RpnHeadImpl::RpnHeadImpl(int64_t channels, int64_t anchors_per_location) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1)));
  cls_logits = register_module("cls_logits", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, anchors_per_location, 1)));
  bbox_pred = register_module("bbox_pred", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 4 * anchors_per_location, 1)));
  torch::NoGradGuard no_grad;
  for (auto* layer : {conv.get(), cls_logits.get(), bbox_pred.get()}) {
    torch::nn::init::normal_(layer->weight, 0.0, 0.01);
    layer->bias.zero_();
  }
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> RpnHeadImpl::forward(
    const std::vector<torch::Tensor>& features) {
  std::vector<torch::Tensor> logits, deltas;
  for (const auto& feature : features) {
    const auto t = torch::relu(conv->forward(feature));
    logits.push_back(cls_logits->forward(t));
    deltas.push_back(bbox_pred->forward(t));
  }
  return {logits, deltas};
}

RegionProposalNetworkImpl::RegionProposalNetworkImpl(int64_t channels, AnchorGenerator anchors, RpnOptions options)
    : anchor_generator_(std::move(anchors)), options_(options) {
  matcher_.high = options_.fg_iou_thresh;
  matcher_.low = options_.bg_iou_thresh;
  matcher_.allow_low_quality_matches = true;
  sampler_.batch_size_per_image = options_.batch_size_per_image;
  sampler_.positive_fraction = options_.positive_fraction;
  for (size_t l = 1; l < anchor_generator_.num_levels(); ++l)
    TORCH_CHECK(anchor_generator_.anchors_per_location(l) == anchor_generator_.anchors_per_location(0),
                "the RPN's head is shared by the levels: each needs as many anchors a cell");
  head = register_module("head", RpnHead(channels, anchor_generator_.anchors_per_location(0)));
}

namespace {
// [B, A·C, h, w] → [B, h·w·A, C]: cell by cell, anchor by anchor (torchvision's permute_and_flatten)
torch::Tensor flatten_level(const torch::Tensor& x, int64_t per_anchor) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  return x.view({b, -1, per_anchor, h, w}).permute({0, 3, 4, 1, 2}).reshape({b, -1, per_anchor});
}
}  // namespace

RpnOutput RegionProposalNetworkImpl::forward(const std::vector<torch::Tensor>& features, std::array<int64_t, 2> batch_hw,
                                             const std::vector<std::array<int64_t, 2>>& image_sizes,
                                             const std::vector<DetectionTarget>* targets) {
  const int64_t num_images = features.at(0).size(0);
  TORCH_CHECK(int64_t(image_sizes.size()) == num_images, "the RPN needs one image size an image");
  auto [logit_levels, delta_levels] = head->forward(features);
  const auto anchors = anchor_generator_(batch_hw, features);  // [A_total, 4], every image's
  std::vector<int64_t> anchors_per_level;
  std::vector<torch::Tensor> logit_flat, delta_flat;
  for (size_t l = 0; l < logit_levels.size(); ++l) {
    anchors_per_level.push_back(logit_levels[l].size(1) * logit_levels[l].size(2) * logit_levels[l].size(3));
    logit_flat.push_back(flatten_level(logit_levels[l], 1));
    delta_flat.push_back(flatten_level(delta_levels[l], 4));
  }
  const auto objectness = torch::cat(logit_flat, 1).flatten(0, -2);  // [B·A_total, 1]
  const auto deltas = torch::cat(delta_flat, 1).reshape({-1, 4});     // [B·A_total, 4]
  const auto all_anchors = anchors.repeat({num_images, 1});
  const auto proposals = coder_.decode(deltas.detach(), all_anchors).view({num_images, -1, 4});

  RpnOutput out;
  out.proposals = select_proposals(proposals, objectness, image_sizes, anchors_per_level);
  if (!is_training()) return out;

  TORCH_CHECK(targets && int64_t(targets->size()) == num_images, "the RPN trains on each image's objects");
  std::vector<torch::Tensor> labels, regression_targets, positive_masks, negative_masks;
  for (int64_t i = 0; i < num_images; ++i) {
    const auto& gt = (*targets)[size_t(i)].boxes;
    torch::Tensor image_labels, matched_boxes;
    if (gt.numel() == 0) {
      image_labels = torch::zeros({anchors.size(0)}, anchors.options());
      matched_boxes = torch::zeros_like(anchors);
    } else {
      const auto matches = matcher_(box_iou(gt, anchors));
      matched_boxes = gt.index({matches.clamp_min(0)});
      image_labels = (matches >= 0).to(anchors.scalar_type());
      image_labels.masked_fill_(matches == Matcher::kBetweenThresholds, -1.0);
    }
    auto [pos, neg] = sampler_(image_labels);
    labels.push_back(image_labels);
    regression_targets.push_back(coder_.encode(matched_boxes, anchors));
    positive_masks.push_back(pos);
    negative_masks.push_back(neg);
  }
  const auto sampled_pos = torch::nonzero(torch::cat(positive_masks)).select(1, 0);
  const auto sampled_neg = torch::nonzero(torch::cat(negative_masks)).select(1, 0);
  const auto sampled = torch::cat({sampled_pos, sampled_neg});
  const auto all_labels = torch::cat(labels), all_targets = torch::cat(regression_targets);
  out.loss_rpn_box_reg = at::smooth_l1_loss(deltas.index({sampled_pos}), all_targets.index({sampled_pos}),
                                            at::Reduction::Sum, 1.0 / 9) /
                         double(std::max<int64_t>(sampled.numel(), 1));
  out.loss_objectness = torch::binary_cross_entropy_with_logits(objectness.flatten().index({sampled}),
                                                                all_labels.index({sampled}));
  return out;
}

std::vector<torch::Tensor> RegionProposalNetworkImpl::select_proposals(
    const torch::Tensor& proposals, const torch::Tensor& objectness_in,
    const std::vector<std::array<int64_t, 2>>& image_sizes, const std::vector<int64_t>& anchors_per_level) const {
  const int64_t num_images = proposals.size(0);
  const auto objectness = objectness_in.detach().reshape({num_images, -1});
  const int64_t pre_nms = is_training() ? options_.pre_nms_top_n_train : options_.pre_nms_top_n_test;
  const int64_t post_nms = is_training() ? options_.post_nms_top_n_train : options_.post_nms_top_n_test;
  // the highest pre_nms logits of each level, and each one's level
  std::vector<torch::Tensor> top, levels;
  int64_t offset = 0;
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(proposals.device());
  for (size_t l = 0; l < anchors_per_level.size(); ++l) {
    const int64_t n = anchors_per_level[l];
    const auto level = objectness.narrow(1, offset, n);
    const int64_t k = std::min(pre_nms, n);
    top.push_back(std::get<1>(level.topk(k, 1)) + offset);
    levels.push_back(torch::full({num_images, k}, int64_t(l), long_options));
    offset += n;
  }
  const auto top_index = torch::cat(top, 1);
  const auto level_of = torch::cat(levels, 1);
  const auto scores_all = torch::sigmoid(objectness.gather(1, top_index));
  const auto boxes_all = proposals.gather(1, top_index.unsqueeze(2).expand({-1, -1, 4}));

  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < num_images; ++i) {
    auto boxes = clip_boxes_to_image(boxes_all[i], image_sizes[size_t(i)]);
    auto scores = scores_all[i];
    auto lvl = level_of[i];
    auto keep = remove_small_boxes(boxes, 1e-3);
    boxes = boxes.index({keep}), scores = scores.index({keep}), lvl = lvl.index({keep});
    keep = torch::nonzero(scores >= options_.score_thresh).select(1, 0);
    boxes = boxes.index({keep}), scores = scores.index({keep}), lvl = lvl.index({keep});
    keep = batched_nms(boxes, scores, lvl, options_.nms_thresh).slice(0, 0, post_nms);
    out.push_back(boxes.index({keep}));
  }
  return out;
}

}  // namespace eshift
