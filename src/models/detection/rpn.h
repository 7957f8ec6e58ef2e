#pragma once
// The region proposal network (Ren et al. 2015; torchvision's RPNHead and RegionProposalNetwork).
//
// Head, shared by every level: t = relu(conv3×3(P)), objectness logits = conv1×1(t) (A a cell),
// box deltas = conv1×1(t) (4·A a cell); plain convs with biases, weights ~ N(0, 0.01²), biases 0.
// Predictions are flattened level by level, cell by cell (row-major), anchor by anchor, matching the
// anchors (anchor_generator.h). Proposals = the deltas (detached) decoded on the anchors (BoxCoder
// weights 1, 1, 1, 1).
//
// Proposal selection, per image: the pre_nms_top_n highest objectness logits of each level;
// σ(logit) as score; boxes clipped to the image (its size before padding); boxes narrower or lower
// than 1e-3 dropped; scores below score_thresh dropped; NMS at nms_thresh within each level; the
// first post_nms_top_n kept (by score). Training and evaluation have their own top-n counts.
//
// Training (the losses, torchvision's names):
//   anchors matched to the image's objects by IoU (Matcher high 0.7, low 0.3, low-quality matches
//   allowed): label 1 matched, 0 background, −1 ignored; an image without objects is all background;
//   256 anchors an image sampled, at most half positive (BalancedSampler);
//   loss_objectness   = mean over the sampled anchors of BCE(logit, label)
//   loss_rpn_box_reg  = Σ over sampled positives of smooth-L1_β(delta − encode(object, anchor)),
//                       β = 1/9, divided by the number of sampled anchors.
#include <torch/torch.h>

#include <array>
#include <vector>

#include "eshift/data/detection_target.h"
#include "eshift/models/detection/anchor_generator.h"
#include "eshift/models/detection/box_coder.h"
#include "eshift/models/detection/proposal_matching.h"
#include "eshift/models/detector_settings.h"  // RpnOptions

namespace eshift {

class RpnHeadImpl : public torch::nn::Module {
 public:
  RpnHeadImpl(int64_t channels, int64_t anchors_per_location);
  // Per level: objectness logits [B, A, h, w] and deltas [B, 4A, h, w].
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> forward(const std::vector<torch::Tensor>& features);

 private:
  torch::nn::Conv2d conv{nullptr}, cls_logits{nullptr}, bbox_pred{nullptr};
};
TORCH_MODULE(RpnHead);

struct RpnOutput {
  std::vector<torch::Tensor> proposals;  // per image [n, 4], highest objectness first
  torch::Tensor loss_objectness, loss_rpn_box_reg;  // defined in training
};

class RegionProposalNetworkImpl : public torch::nn::Module {
 public:
  RegionProposalNetworkImpl(int64_t channels, AnchorGenerator anchors, RpnOptions options);
  // `features`: P2–P6 of a padded batch of size `batch_hw`; `image_sizes`: each image's (h, w)
  // before padding; `targets`: the images' objects, needed in training.
  RpnOutput forward(const std::vector<torch::Tensor>& features, std::array<int64_t, 2> batch_hw,
                    const std::vector<std::array<int64_t, 2>>& image_sizes,
                    const std::vector<DetectionTarget>* targets);
  const RpnOptions& options() const { return options_; }

 private:
  std::vector<torch::Tensor> select_proposals(const torch::Tensor& proposals, const torch::Tensor& objectness,
                                              const std::vector<std::array<int64_t, 2>>& image_sizes,
                                              const std::vector<int64_t>& anchors_per_level) const;

  AnchorGenerator anchor_generator_;
  RpnOptions options_;
  BoxCoder coder_;
  Matcher matcher_;
  BalancedSampler sampler_;
  RpnHead head{nullptr};
};
TORCH_MODULE(RegionProposalNetwork);

}  // namespace eshift
