#pragma once
// What a model is built from: its registry name and the options every eshift model takes (the
// weight-normalization family of its convs, its feature normalization, WS conventions, input
// channels, classes). Stored in checkpoints as JSON, so a checkpoint cannot be loaded into another
// model.
#include <cstdint>
#include <string>

#include "eshift/nn/family.h"

namespace eshift {

// A detector's settings: torchvision's MaskRCNN keyword arguments of the same names, with its
// defaults (rpn.h and roi_heads.h say what each does). Each is a train flag (--rpn-nms-thresh, …).
struct DetectorSettings {
  int64_t rpn_pre_nms_top_n_train = 2000, rpn_pre_nms_top_n_test = 1000;
  int64_t rpn_post_nms_top_n_train = 2000, rpn_post_nms_top_n_test = 1000;
  double rpn_nms_thresh = 0.7, rpn_fg_iou_thresh = 0.7, rpn_bg_iou_thresh = 0.3;
  int64_t rpn_batch_size_per_image = 256;
  double rpn_positive_fraction = 0.5, rpn_score_thresh = 0.0;
  double box_score_thresh = 0.05, box_nms_thresh = 0.5;
  int64_t box_detections_per_img = 100;
  double box_fg_iou_thresh = 0.5, box_bg_iou_thresh = 0.5;
  int64_t box_batch_size_per_image = 512;
  double box_positive_fraction = 0.25;
  // The width of the pyramid (torchvision's out_channels of resnet_fpn_backbone), and so of the RPN
  // head and the mask head's convs; the box head's two layers (TwoMLPHead's representation_size).
  // Smaller values make a reduced detector for small images and CPUs.
  int64_t fpn_channels = 256, representation_size = 1024;
  // Fine-tuning a backbone (torchvision's trainable_backbone_layers and FrozenBatchNorm2d): the last
  // k of the backbone's stage 4, 3, 2, 1 and stem conv train (5: all, the stem's norm too; 0: none),
  // the others are frozen; and frozen BN keeps every backbone BatchNorm's statistics and affine
  // parameters as initialized (torchvision's choice for a pretrained backbone: 3 layers, frozen BN).
  int64_t trainable_backbone_layers = 5;
  bool frozen_backbone_bn = false;

  // Throws std::invalid_argument naming the flag of an impossible value.
  void validate() const;
};

struct ModelSpec {
  std::string name = "resnet20";        // a name the model registry knows (registry.h)
  WeightFamily wnorm = WeightFamily::WS;
  std::string norm = "bn";              // bn | gn
  int gn_groups = 8;                    // groups of GroupNorm (capped at the channel count)
  WSOptions ws;                         // WS conventions (δ, where δ sits)
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t width = 16;                   // filters of the first stage (models that have one)
  DetectorSettings detector;            // detectors only (kept in the JSON of detector names)

  // Throws std::invalid_argument on an unknown name or impossible values (naming the flag).
  void validate() const;
  std::string to_json() const;
  static ModelSpec from_json(const std::string& json);
  bool operator==(const ModelSpec& other) const { return to_json() == other.to_json(); }
};

}  // namespace eshift
