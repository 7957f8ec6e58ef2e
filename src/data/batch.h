#pragma once
// What a loader hands the trainer and the task consumes: the inputs of a batch of images and what
// the model's output is compared with.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/data/detection_target.h"

namespace eshift {

struct Batch {
  torch::Tensor inputs;   // float32 [B, C, H, W], transformed (detection: zero-padded to a stride)
  torch::Tensor targets;  // classification: int64 class indices [B]; undefined for detection
  std::vector<DetectionTarget> objects = {};  // detection: each image's objects and sizes, in order
  // The examples of this batch that could not be decoded (one message each, naming the file): in
  // training their places are taken by other examples of the batch, in evaluation they are left out.
  std::vector<std::string> unreadable = {};
  int64_t size() const { return inputs.size(0); }

  // The batch with its targets on `device` (the inputs are placed by the execution policy).
  Batch with_targets_on(const torch::Device& device, torch::Tensor placed_inputs) const {
    Batch out{std::move(placed_inputs), targets.defined() ? targets.to(device) : targets, {}, unreadable};
    out.objects.reserve(objects.size());
    for (const auto& o : objects) out.objects.push_back(o.to(device));
    return out;
  }
};

}  // namespace eshift
