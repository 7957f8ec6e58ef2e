#pragma once
// What a model gives for a batch: a classifier its logits; a detector its named losses in training
// and its detections per image in evaluation (torchvision's detection models' two outputs).
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eshift {

// A detector's postprocessed output for one image (torchvision's):
//   boxes  float [n, 4] x1, y1, x2, y2 in the pixels of the model's input (the resized image)
//   scores float [n]
//   labels int64 [n], 1..K
//   masks  optional, [n, h, w] at the original image's size: probabilities (> 0.5 is the mask) or
//          0/1 bytes
struct ImageDetections {
  int64_t image_id = 0;
  std::array<int64_t, 2> original_size{}, size{};  // h, w of the image and of the model's input
  torch::Tensor boxes, scores, labels, masks;
};

struct ModelOutput {
  ModelOutput() = default;
  ModelOutput(torch::Tensor logits) : logits(std::move(logits)) {}  // a classifier's output is its logits

  torch::Tensor logits;  // a classifier: [B, classes]
  // A detector in training: its losses by name (scalars), whose sum backward differentiates.
  std::vector<std::pair<std::string, torch::Tensor>> losses;
  // A detector in evaluation: per image of the batch, in order.
  std::vector<ImageDetections> detections;

  // The same output detached from the graph.
  ModelOutput detached() const {
    ModelOutput out;
    if (logits.defined()) out.logits = logits.detach();
    for (const auto& [name, loss] : losses) out.losses.emplace_back(name, loss.detach());
    out.detections = detections;
    return out;
  }
};

}  // namespace eshift
