#include "eshift/models/detection/roi_heads.h"

#include <algorithm>

#include "eshift/models/detection/mask_ops.h"
#include "eshift/ops/box_ops.h"
#include "eshift/ops/nms.h"

namespace eshift {

RoiHeadsImpl::RoiHeadsImpl(const ModelSpec& spec, int64_t channels, int64_t num_classes, RoiHeadsOptions options)
    : options_(options) {
  TORCH_CHECK(num_classes >= 2, "a detector needs at least one class besides the background");
  coder_.weights = {10.0, 10.0, 5.0, 5.0};
  matcher_.high = options_.fg_iou_thresh;
  matcher_.low = options_.bg_iou_thresh;
  sampler_.batch_size_per_image = options_.batch_size_per_image;
  sampler_.positive_fraction = options_.positive_fraction;
  const int64_t pooled = channels * box_pool_.output_size() * box_pool_.output_size();
  const int64_t rep = options_.representation_size;
  // modules in torchvision's order: box head, box predictor, mask head, mask predictor
  fc6 = register_module("fc6", torch::nn::Linear(pooled, rep));
  fc7 = register_module("fc7", torch::nn::Linear(rep, rep));
  cls_score = register_module("cls_score", torch::nn::Linear(rep, num_classes));
  bbox_pred = register_module("bbox_pred", torch::nn::Linear(rep, 4 * num_classes));
  mask_head = register_module("mask_head", torch::nn::Sequential());
  int64_t in = channels;
  for (int i = 0; i < 4; ++i) {
    mask_head->push_back(HeadConv(spec, in, channels, 3, /*relu=*/true, HeadConvInit::KaimingNormalFanOut));
    in = channels;
  }
  conv5_mask = register_module(
      "conv5_mask", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, in, 2).stride(2)));
  mask_fcn_logits = register_module("mask_fcn_logits", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, num_classes, 1)));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_normal_(conv5_mask->weight, 0.0, torch::kFanOut, torch::kReLU);
  conv5_mask->bias.zero_();
  torch::nn::init::kaiming_normal_(mask_fcn_logits->weight, 0.0, torch::kFanOut, torch::kReLU);
  mask_fcn_logits->bias.zero_();
}

torch::Tensor RoiHeadsImpl::mask_logits(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes,
                                        const std::vector<std::array<int64_t, 2>>& image_sizes) {
  int64_t count = 0;
  for (const auto& b : boxes) count += b.size(0);
  if (count == 0)  // no box to segment (GroupNorm refuses an empty batch): no logits, and a zero loss
    return torch::zeros({0, mask_fcn_logits->options.out_channels(), 28, 28}, features[0].options()) +
           mask_fcn_logits->weight.sum() * 0;
  auto x = mask_head->forward(mask_pool_(features, boxes, image_sizes));
  return mask_fcn_logits->forward(torch::relu(conv5_mask->forward(x)));
}

RoiHeadsOutput RoiHeadsImpl::forward(const std::vector<torch::Tensor>& features_in, std::vector<torch::Tensor> proposals,
                                     const std::vector<std::array<int64_t, 2>>& image_sizes,
                                     const std::vector<DetectionTarget>* targets) {
  // the RoI heads read P2–P5 (not the max-pooled level)
  const std::vector<torch::Tensor> features(features_in.begin(), features_in.begin() + std::min<size_t>(4, features_in.size()));
  const size_t num_images = proposals.size();
  std::vector<torch::Tensor> labels, matched;
  torch::Tensor regression_targets;
  if (is_training()) {
    TORCH_CHECK(targets && targets->size() == num_images, "the RoI heads train on each image's objects");
    std::vector<torch::Tensor> encoded;
    for (size_t i = 0; i < num_images; ++i) {
      const auto& t = (*targets)[i];
      const auto gt = t.boxes.to(proposals[i].scalar_type());
      proposals[i] = torch::cat({proposals[i], gt});
      torch::Tensor image_matched, image_labels;
      if (gt.numel() == 0) {
        image_matched = torch::zeros({proposals[i].size(0)}, gt.options().dtype(torch::kLong));
        image_labels = torch::zeros_like(image_matched);
      } else {
        const auto matches = matcher_(box_iou(gt, proposals[i]));
        image_matched = matches.clamp_min(0);
        image_labels = t.labels.index({image_matched}).to(torch::kLong);
        image_labels.masked_fill_(matches == Matcher::kBelowLowThreshold, 0);
        image_labels.masked_fill_(matches == Matcher::kBetweenThresholds, -1);
      }
      auto [pos, neg] = sampler_(image_labels);
      const auto sampled = torch::nonzero(pos | neg).select(1, 0);
      proposals[i] = proposals[i].index({sampled});
      labels.push_back(image_labels.index({sampled}));
      matched.push_back(image_matched.index({sampled}));
      const auto gt_or_zero = gt.numel() == 0 ? torch::zeros({1, 4}, gt.options()) : gt;
      encoded.push_back(coder_.encode(gt_or_zero.index({matched.back()}), proposals[i]));
    }
    regression_targets = torch::cat(encoded);
  }

  auto x = box_pool_(features, proposals, image_sizes).flatten(1);
  x = torch::relu(fc7->forward(torch::relu(fc6->forward(x))));
  const auto class_logits = cls_score->forward(x);
  const auto box_deltas = bbox_pred->forward(x);

  RoiHeadsOutput out;
  if (is_training()) {
    const auto all_labels = torch::cat(labels);
    const auto loss_classifier = torch::cross_entropy_loss(class_logits, all_labels);
    const auto positive = torch::nonzero(all_labels > 0).select(1, 0);
    const auto deltas = box_deltas.reshape({box_deltas.size(0), -1, 4});
    const auto loss_box_reg = at::smooth_l1_loss(deltas.index({positive, all_labels.index({positive})}),
                                                 regression_targets.index({positive}), at::Reduction::Sum, 1.0 / 9) /
                              double(std::max<int64_t>(all_labels.numel(), 1));
    // masks: the positive proposals only
    std::vector<torch::Tensor> mask_boxes, mask_targets, mask_labels;
    for (size_t i = 0; i < num_images; ++i) {
      const auto pos = torch::nonzero(labels[i] > 0).select(1, 0);
      mask_boxes.push_back(proposals[i].index({pos}));
      const auto& t = (*targets)[i];
      TORCH_CHECK(t.masks.defined(), "Mask R-CNN trains on object masks, and image ", t.image_id, " has none");
      const auto object = matched[i].index({pos});
      mask_labels.push_back(t.labels.index({object}));
      mask_targets.push_back(project_masks_on_boxes(t.masks, mask_boxes.back(), object, 28));
    }
    const auto logits = mask_logits(features, mask_boxes, image_sizes);
    const auto mask_label = torch::cat(mask_labels), mask_target = torch::cat(mask_targets);
    torch::Tensor loss_mask;
    if (mask_target.numel() == 0) {
      loss_mask = logits.sum() * 0;
    } else {
      const auto rows = torch::arange(mask_label.size(0), mask_label.options());
      loss_mask = torch::binary_cross_entropy_with_logits(logits.index({rows, mask_label}), mask_target);
    }
    out.losses = {{"loss_classifier", loss_classifier}, {"loss_box_reg", loss_box_reg}, {"loss_mask", loss_mask}};
    return out;
  }

  // evaluation
  const int64_t num_classes = class_logits.size(1);
  std::vector<torch::Tensor> boxes_per_image;
  std::vector<int64_t> counts;
  for (const auto& p : proposals) counts.push_back(p.size(0));
  const auto decoded = coder_.decode(box_deltas, torch::cat(proposals)).split_with_sizes(counts);
  const auto scores_all = torch::softmax(class_logits, -1).split_with_sizes(counts);
  for (size_t i = 0; i < num_images; ++i) {
    auto boxes = clip_boxes_to_image(decoded[i], image_sizes[i]);
    auto scores = scores_all[i];
    auto labels_i = torch::arange(num_classes, scores.options().dtype(torch::kLong)).view({1, -1}).expand_as(scores);
    boxes = boxes.slice(1, 1).reshape({-1, 4});
    scores = scores.slice(1, 1).reshape(-1);
    labels_i = labels_i.slice(1, 1).reshape(-1);
    auto keep = torch::nonzero(scores > options_.score_thresh).select(1, 0);
    boxes = boxes.index({keep}), scores = scores.index({keep}), labels_i = labels_i.index({keep});
    keep = remove_small_boxes(boxes, 1e-2);
    boxes = boxes.index({keep}), scores = scores.index({keep}), labels_i = labels_i.index({keep});
    keep = batched_nms(boxes, scores, labels_i, options_.nms_thresh).slice(0, 0, options_.detections_per_img);
    RoiHeadsOutput::Image d;
    d.boxes = boxes.index({keep});
    d.scores = scores.index({keep});
    d.labels = labels_i.index({keep});
    out.detections.push_back(d);
    boxes_per_image.push_back(d.boxes);
  }
  const auto logits = mask_logits(features, boxes_per_image, image_sizes);
  const auto all_labels = torch::cat([&] {
    std::vector<torch::Tensor> l;
    for (const auto& d : out.detections) l.push_back(d.labels);
    return l;
  }());
  const auto rows = torch::arange(all_labels.size(0), all_labels.options());
  const auto probabilities = torch::sigmoid(logits).index({rows, all_labels});  // [n, 28, 28]
  int64_t offset = 0;
  for (auto& d : out.detections) {
    d.mask_probabilities = probabilities.narrow(0, offset, d.boxes.size(0));
    offset += d.boxes.size(0);
  }
  return out;
}

}  // namespace eshift
