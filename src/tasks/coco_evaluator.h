#pragma once
// The COCO evaluation of a detector during or after training: per-image detections, as a model
// gives them, become COCO results (as torchvision's detection reference writes them), are gathered
// across processes as JSON, and are scored with coco_eval.h.
//
// What a model gives per image is models/model_output.h's ImageDetections:
//   boxes  in the pixels of the model's input: scaled back to the original image by the ratios
//          original/resized (float32, torchvision's resize_boxes), then written as [x, y, w, h]
//   labels 1..K: written as the category's COCO id (CocoDataset::category_id)
//   masks  at the original image's size, > 0.5 (as the reference thresholds): compressed RLE
// bbox results carry boxes and scores; segm results carry masks and scores without boxes, so their
// areas are the masks' (as the reference prepares them).
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "eshift/data/coco_dataset.h"
#include "eshift/models/model_output.h"
#include "eshift/tasks/coco_eval.h"

namespace eshift {

class CocoEvaluator {
 public:
  // `types`: bbox, segm or both (segm needs masks in every add()).
  CocoEvaluator(std::shared_ptr<const CocoDataset> dataset, std::vector<CocoIouType> types);

  // An image already added (or merged) is left out: each counts once.
  void add(const ImageDetections& detections);
  // The results so far, as a COCO results file's JSON per type ({"bbox": [...], "segm": [...]}),
  // and back: what one process sends and another merges (a data-parallel evaluation).
  std::string to_json() const;
  void merge_json(const std::string& text);
  // The results of `type` as a COCO results file (what `eshift detect-eval` reads).
  void write_results(CocoIouType type, const std::string& path) const;
  // The 12 numbers of each type over the images added and merged (only those: pycocotools'
  // params.imgIds, as the reference's evaluator sets it), whichever process added which.
  std::map<CocoIouType, CocoStats> finalize() const;
  int64_t images() const { return images_; }

 private:
  // The results of `type` by image id, each image's in the order the model gave them, numbered.
  std::vector<CocoAnnotation> ordered(CocoIouType type) const;

  std::shared_ptr<const CocoDataset> dataset_;
  std::vector<CocoIouType> types_;
  std::map<CocoIouType, std::vector<CocoAnnotation>> results_;
  std::vector<int64_t> image_ids_;
  std::unordered_set<int64_t> seen_;
  int64_t images_ = 0;
};

}  // namespace eshift
