#include "eshift/models/detection/mask_rcnn.h"

#include <algorithm>
#include <stdexcept>

#include "eshift/models/detection/mask_ops.h"
#include "eshift/models/resnet.h"

namespace eshift {

namespace {
const std::vector<std::string> kBackbones = {"resnet18",  "resnet34",        "resnet50",        "resnet101",
                                             "resnet152", "resnext50_32x4d", "resnext101_32x8d"};
}

std::string MaskRcnnImpl::backbone_name(const std::string& name) {
  const std::string prefix = "maskrcnn_", suffix = "_fpn";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return "";
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

MaskRcnnImpl::MaskRcnnImpl(const ModelSpec& spec) : Model(spec) {
  ModelSpec backbone = spec;
  backbone.name = backbone_name(spec.name);
  backbone.num_classes = 1000;  // its classifier is dropped
  backbone_ = build_model(backbone);
  backbone_->unregister_module("fc");
  register_module("backbone", backbone_);
  freeze_backbone(spec.detector.trainable_backbone_layers, spec.detector.frozen_backbone_bn);
  fpn_ = register_module("fpn", FeaturePyramid(spec, backbone_->feature_channels(), spec.detector.fpn_channels));
  rpn_ = register_module("rpn", RegionProposalNetwork(fpn_->channels(), AnchorGenerator::fpn_default(), spec.detector.rpn));
  roi_heads_ = register_module("roi_heads", RoiHeads(spec, fpn_->channels(), spec.num_classes, spec.detector.box));
}

void MaskRcnnImpl::freeze_backbone(int64_t trainable_layers, bool frozen_bn) {
  // torchvision's: of (stage 4, stage 3, stage 2, stage 1, stem conv) the first `trainable_layers`
  // train; with all five the stem's norm trains too
  const auto* resnet = dynamic_cast<const ResNetImpl*>(backbone_.get());
  TORCH_CHECK(resnet, "Mask R-CNN's backbone is a ResNet");
  auto trains = [&](const std::string& name) {
    if (trainable_layers >= 5) return true;        // everything, the stem included
    if (name.rfind("stages.", 0) != 0) return false;  // the stem's conv and norm
    const size_t block = std::stoul(name.substr(7, name.find('.', 7) - 7));
    return resnet->stage_of_block(block) > 4 - trainable_layers;
  };
  for (auto& p : backbone_->named_parameters())
    if (!trains(p.key())) p.value().set_requires_grad(false);
  frozen_bn_ = frozen_bn;
  if (frozen_bn_)
    for (const auto& m : backbone_->modules(/*include_self=*/false))
      if (auto* bn = m->as<torch::nn::BatchNorm2d>())
        for (auto& p : bn->parameters()) p.set_requires_grad(false);
}

void MaskRcnnImpl::train(bool on) {
  Model::train(on);
  if (frozen_bn_)
    for (const auto& m : backbone_->modules(/*include_self=*/false))
      if (m->as<torch::nn::BatchNorm2d>()) m->eval();
}

torch::Tensor MaskRcnnImpl::forward(torch::Tensor) {
  throw std::invalid_argument("model " + spec().name + " is a detector: it reads batches with their objects");
}

ModelOutput MaskRcnnImpl::forward_batch(const Batch& batch) {
  TORCH_CHECK(batch.objects.size() == size_t(batch.inputs.size(0)),
              "a detector needs each image's sizes and objects with its batch");
  std::vector<std::array<int64_t, 2>> image_sizes;
  for (const auto& o : batch.objects) image_sizes.push_back(o.size);
  const std::array<int64_t, 2> batch_hw{batch.inputs.size(2), batch.inputs.size(3)};
  const auto features = fpn_->forward(backbone_->features(batch.inputs));
  const auto* targets = is_training() ? &batch.objects : nullptr;
  auto proposals = rpn_->forward(features, batch_hw, image_sizes, targets);
  auto heads = roi_heads_->forward(features, std::move(proposals.proposals), image_sizes, targets);

  ModelOutput out;
  if (is_training()) {
    out.losses = std::move(heads.losses);
    out.losses.emplace_back("loss_objectness", proposals.loss_objectness);
    out.losses.emplace_back("loss_rpn_box_reg", proposals.loss_rpn_box_reg);
    return out;
  }
  for (size_t i = 0; i < heads.detections.size(); ++i) {
    const auto& d = heads.detections[i];
    const auto& object = batch.objects[i];
    ImageDetections image;
    image.image_id = object.image_id;
    image.original_size = object.original_size;
    image.size = object.size;
    image.boxes = d.boxes;
    image.scores = d.scores;
    image.labels = d.labels;
    // the boxes at the original size (torchvision's resize_boxes), where the masks are pasted
    const auto ratio_h = torch::tensor(float(object.original_size[0])) / torch::tensor(float(object.size[0]));
    const auto ratio_w = torch::tensor(float(object.original_size[1])) / torch::tensor(float(object.size[1]));
    const auto ratios = torch::stack({ratio_w, ratio_h, ratio_w, ratio_h}).to(d.boxes.options());
    image.masks = paste_masks_in_image(d.mask_probabilities, d.boxes * ratios, object.original_size);
    out.detections.push_back(std::move(image));
  }
  return out;
}

ModelEntry mask_rcnn_entry() {
  return {"maskrcnn_<backbone>_fpn (backbone: resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d)",
          [](const std::string& name) { return !MaskRcnnImpl::backbone_name(name).empty(); },
          [](const ModelSpec& spec) {
            const auto backbone = MaskRcnnImpl::backbone_name(spec.name);
            if (std::find(kBackbones.begin(), kBackbones.end(), backbone) == kBackbones.end())
              throw std::invalid_argument("unknown model '" + spec.name + "': Mask R-CNN's backbone '" + backbone +
                                          "' is not one of resnet18, resnet34, resnet50, resnet101, resnet152, "
                                          "resnext50_32x4d, resnext101_32x8d");
            if (spec.num_classes < 2)
              throw std::invalid_argument("--model " + spec.name + " needs at least one class besides the background");
          },
          [](const ModelSpec& spec) -> std::shared_ptr<Model> { return std::make_shared<MaskRcnnImpl>(spec); }};
}

}  // namespace eshift
