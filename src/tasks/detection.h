#pragma once
// Object detection and instance segmentation on COCO (--task detect --data coco): a detector
// (Model::is_detector) gives its losses in training and its detections per image in evaluation
// (models/model_output.h), as torchvision's detection models do.
//   loss        the sum of the model's named losses (torchvision's detection reference sums them
//               unweighted); each is also a training metric, averaged over the images
//   evaluation  COCO AP of the detections (coco_evaluator.h, equal to pycocotools): bbox, and segm
//               when the data has masks; the metrics are the six AP numbers of each type
//               (AP, AP50, AP75, APs, APm, APl: "bbox_AP", …), fractions in [0, 1]
//   data        COCO's official layout (data/coco_dataset.h) through the detection transform
//               (data/detection.h): training flips and skips images without targets,
//               evaluation keeps every image; the normalization is ImageNet's (torchvision's)
#include "eshift/tasks/task.h"

namespace eshift {

struct DetectionOptions {
  int64_t min_size = 800, max_size = 1333;  // --min-size, --max-size: resize (data/detection.h)
};

class DetectionTask : public Task {
 public:
  explicit DetectionTask(DetectionOptions options = {});
  std::string name() const override { return "detection"; }
  // "loss", then the losses a detector may name (torchvision's Mask R-CNN: loss_classifier,
  // loss_box_reg, loss_mask, loss_objectness, loss_rpn_box_reg); a loss of another name is an error.
  const std::vector<MetricInfo>& metrics() const override { return metrics_; }
  torch::Tensor loss(const ModelOutput& output, const Batch& batch) const override;
  void measure(const ModelOutput& output, const Batch& batch, std::optional<double> mean_loss,
               MetricSums& sums) const override;
  TaskData open_data(const DataRequest& request) const override;
  void check(const Model& model) const override;  // a detector
  std::unique_ptr<TaskEvaluator> evaluator(const DataSplit& eval) const override;  // COCO AP
  // 2 images: at 800×1333 an evaluation batch's activations are what a training batch's are
  // (torchvision's reference evaluates 1 image per GPU)
  int64_t eval_batch_size() const override { return 2; }

 private:
  DetectionOptions options_;
  std::vector<MetricInfo> metrics_;
};

}  // namespace eshift
