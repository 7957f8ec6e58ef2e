#pragma once
// A detector's settings: torchvision's MaskRCNN keyword arguments, with its defaults, each a train
// flag of the same name (--rpn-nms-thresh, --box-score-thresh, …) and a key of the checkpoint's model
// JSON. Written once here: the RPN and the RoI heads take their part as it is (rpn.h and roi_heads.h
// say what each setting does). No LibTorch here, so that ModelSpec stays torch-free.
#include <cstdint>

namespace eshift {

struct RpnOptions {  // MaskRCNN's rpn_* arguments
  int64_t pre_nms_top_n_train = 2000, pre_nms_top_n_test = 1000;    // a level, before NMS
  int64_t post_nms_top_n_train = 2000, post_nms_top_n_test = 1000;  // an image, after NMS
  double nms_thresh = 0.7, score_thresh = 0.0;
  double fg_iou_thresh = 0.7, bg_iou_thresh = 0.3;  // anchor matching
  int64_t batch_size_per_image = 256;               // anchors sampled for the losses
  double positive_fraction = 0.5;
};

struct RoiHeadsOptions {  // MaskRCNN's box_* arguments and TwoMLPHead's representation_size
  double score_thresh = 0.05, nms_thresh = 0.5;
  int64_t detections_per_img = 100;
  double fg_iou_thresh = 0.5, bg_iou_thresh = 0.5;  // proposal matching
  int64_t batch_size_per_image = 512;               // proposals sampled for the losses
  double positive_fraction = 0.25;
  int64_t representation_size = 1024;               // the box head's fc6 and fc7
};

struct DetectorSettings {
  RpnOptions rpn;
  RoiHeadsOptions box;
  // The width of the pyramid (torchvision's out_channels of resnet_fpn_backbone), and so of the RPN
  // head and the mask head's convs. Smaller values (and a smaller box.representation_size) make a
  // reduced detector for small images and CPUs.
  int64_t fpn_channels = 256;
  // Fine-tuning a backbone (torchvision's trainable_backbone_layers and FrozenBatchNorm2d): the last
  // k of the backbone's stage 4, 3, 2, 1 and stem conv train (5: all, the stem's norm too; 0: none),
  // the others are frozen; and frozen BN keeps every backbone BatchNorm's statistics and affine
  // parameters as initialized (torchvision's choice for a pretrained backbone: 3 layers, frozen BN).
  int64_t trainable_backbone_layers = 5;
  bool frozen_backbone_bn = false;

  // Throws std::invalid_argument naming the flag of an impossible value.
  void validate() const;
};

}  // namespace eshift
