#pragma once
// Mask R-CNN with a ResNet-FPN backbone (He et al. 2017), torchvision's maskrcnn_resnet50_fpn
// part for part: backbone (a zoo ResNet/ResNeXt of the model's --wnorm/--norm, its C2–C5) →
// feature pyramid (feature_pyramid.h: P2–P6, 256 channels) → region proposals (rpn.h) → box and
// mask heads (roi_heads.h). --model maskrcnn_<backbone>_fpn: maskrcnn_resnet50_fpn,
// maskrcnn_resnet18_fpn, maskrcnn_resnext50_32x4d_fpn, … num_classes counts the background.
//
// forward_batch: in training the five losses (loss_classifier, loss_box_reg, loss_mask,
// loss_objectness, loss_rpn_box_reg); in evaluation each image's detections: boxes in the pixels of
// the model's input, masks as probabilities at the original image's size (the boxes scaled back to
// it by the ratios of the sides, as torchvision's resize_boxes, and the masks pasted there:
// mask_ops.h).
// Module names: backbone (the ResNet's own, without its classifier), fpn, rpn, roi_heads.
#include <torch/torch.h>

#include <memory>

#include "eshift/models/detection/feature_pyramid.h"
#include "eshift/models/detection/roi_heads.h"
#include "eshift/models/detection/rpn.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

class MaskRcnnImpl : public Model {
 public:
  // The settings of spec.detector (torchvision's defaults unless flags changed them).
  explicit MaskRcnnImpl(const ModelSpec& spec);
  bool is_detector() const override { return true; }
  torch::Tensor forward(torch::Tensor x) override;  // refuses: a detector reads batches
  ModelOutput forward_batch(const Batch& batch) override;
  // Training mode everywhere but in frozen BatchNorm (--frozen-backbone-bn), which stays in eval.
  void train(bool on = true) override;
  Model& backbone() { return *backbone_; }

  // The backbone's zoo name: maskrcnn_resnet50_fpn → resnet50 (empty when `name` is not such a name).
  static std::string backbone_name(const std::string& name);

 private:
  // --trainable-backbone-layers and --frozen-backbone-bn: requires_grad off where frozen.
  void freeze_backbone(int64_t trainable_layers, bool frozen_bn);

  std::shared_ptr<Model> backbone_;
  bool frozen_bn_ = false;
  FeaturePyramid fpn_{nullptr};
  RegionProposalNetwork rpn_{nullptr};
  RoiHeads roi_heads_{nullptr};
};

// Registry entry: maskrcnn_<resnet18|34|50|101|152|resnext50_32x4d|resnext101_32x8d>_fpn.
ModelEntry mask_rcnn_entry();

}  // namespace eshift
