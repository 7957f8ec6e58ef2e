#pragma once
// The RoI heads of Mask R-CNN (He et al. 2017; torchvision's RoIHeads with TwoMLPHead,
// FastRCNNPredictor, MaskRCNNHeads and MaskRCNNPredictor).
//
// Box branch: 7×7 multi-scale RoIAlign of each proposal (sampling ratio 2) → flatten → fc6 → ReLU
// → fc7 → ReLU (1024 each) → class logits (K + 1, 0 the background) and per-class box deltas
// (4·(K + 1), BoxCoder weights 10, 10, 5, 5).
// Mask branch: 14×14 RoIAlign → 4 × (conv3×3 256 → ReLU) (head_conv.h: + GroupNorm for the WS
// family) → 2×2 deconv stride 2 → ReLU → 1×1 conv to K + 1 mask logits at 28×28.
//
// Training, per image: the objects' boxes join the proposals; each proposal matched to an object
// (Matcher high 0.5, low 0.5: background below, no low-quality matches); 512 sampled, at most a
// quarter positive (BalancedSampler). Losses (torchvision's names):
//   loss_classifier = mean cross-entropy of the class logits over the sampled proposals
//   loss_box_reg    = Σ over sampled positives of smooth-L1_β(deltas of the object's class −
//                     encode(object, proposal)), β = 1/9, divided by the number of sampled proposals
//   loss_mask       = mean BCE of the object's class's mask logits against the projected object
//                     mask (mask_ops.h) over the positives' 28×28 cells (0 when there are none)
// Evaluation, per image: softmax scores and decoded boxes per class (background dropped), boxes
// clipped to the image; scores ≤ 0.05 dropped, boxes smaller than 1e-2 dropped, NMS 0.5 per
// class, the 100 best kept; the masks of the kept boxes' classes as probabilities (σ) [n, 28, 28].
#include <torch/torch.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "eshift/data/detection_target.h"
#include "eshift/models/detection/box_coder.h"
#include "eshift/models/detection/head_conv.h"
#include "eshift/models/detection/proposal_matching.h"
#include "eshift/models/detection/roi_pooler.h"
#include "eshift/models/model_spec.h"  // and RoiHeadsOptions (detector_settings.h)

namespace eshift {

struct RoiHeadsOutput {
  std::vector<std::pair<std::string, torch::Tensor>> losses;  // training
  struct Image {
    torch::Tensor boxes, scores, labels, mask_probabilities;  // [n, 4], [n], [n], [n, 28, 28]
  };
  std::vector<Image> detections;  // evaluation
};

class RoiHeadsImpl : public torch::nn::Module {
 public:
  // `spec`: the family of the mask head's convs; `channels`: the pyramid's, and the width of the
  // mask head's convs; `num_classes`: K + 1.
  RoiHeadsImpl(const ModelSpec& spec, int64_t channels, int64_t num_classes, RoiHeadsOptions options);
  // features: P2–P5; proposals: per image [n_i, 4]; targets: the objects, needed in training.
  RoiHeadsOutput forward(const std::vector<torch::Tensor>& features, std::vector<torch::Tensor> proposals,
                         const std::vector<std::array<int64_t, 2>>& image_sizes,
                         const std::vector<DetectionTarget>* targets);
  const RoiHeadsOptions& options() const { return options_; }

 private:
  torch::Tensor mask_logits(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes,
                            const std::vector<std::array<int64_t, 2>>& image_sizes);

  RoiHeadsOptions options_;
  BoxCoder coder_;
  Matcher matcher_;
  BalancedSampler sampler_;
  MultiScaleRoiAlign box_pool_{7, 2}, mask_pool_{14, 2};
  torch::nn::Linear fc6{nullptr}, fc7{nullptr}, cls_score{nullptr}, bbox_pred{nullptr};
  torch::nn::Sequential mask_head{nullptr};
  torch::nn::ConvTranspose2d conv5_mask{nullptr};
  torch::nn::Conv2d mask_fcn_logits{nullptr};
};
TORCH_MODULE(RoiHeads);

}  // namespace eshift
