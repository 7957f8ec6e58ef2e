#pragma once
// Detection data: an image with its own targets (boxes, classes, masks), the transform that moves
// the targets with the image (torchvision's detection reference and GeneralizedRCNNTransform), and
// collation of images of different sizes into one zero-padded batch.
//
// Conventions (torchvision's):
//   - boxes are x1, y1, x2, y2 in the pixels of the image they belong to, float32;
//   - labels are 1..K, the category's position in the annotation file + 1 (0 is the background);
//   - masks are uint8 {0, 1}, one [h, w] plane per box, at the image's size;
//   - the transform: an optional horizontal flip (x → W − x, boxes' x1 and x2 swap), then
//     normalization (x/255 − mean)/std per channel, then resizing so that the shorter side is
//     min_size unless the longer would exceed max_size: scale s = min(min_size / short,
//     max_size / long), new sides floor(side · s); the image bilinearly (align_corners = false),
//     the masks by nearest neighbour, the boxes by the ratios new/old of each side (float32);
//   - a batch is zero-padded at the bottom and right to the largest height and width of its images,
//     each rounded up to a multiple of the stride (32).
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "eshift/data/batch.h"
#include "eshift/data/detection_target.h"

namespace eshift {

// One image after its transform: float32 [3, h, w] and its target at that size.
struct DetectionExample {
  torch::Tensor image;
  DetectionTarget target;
};

struct DetectionTransformOptions {
  int64_t min_size = 800, max_size = 1333;
  bool hflip = false;  // random horizontal flips (probability ½): training
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
};

class DetectionTransform {
 public:
  explicit DetectionTransform(DetectionTransformOptions options);
  // Draws the flips of positions 0..n-1 of an epoch from `rng` (see batch_loader.h).
  void draw_epoch(std::mt19937_64& rng, int64_t n);
  // uint8 [3, h, w] image and its target at that size → the model's input and the moved target.
  DetectionExample apply(const torch::Tensor& image, DetectionTarget target, int64_t position) const;
  // The size (h, w) an image of h × w becomes.
  std::array<int64_t, 2> resized_size(int64_t height, int64_t width) const;
  const DetectionTransformOptions& options() const { return options_; }

 private:
  DetectionTransformOptions options_;
  std::vector<uint8_t> flips_;
};

// The batch of `examples`: inputs, the images zero-padded to [B, 3, H, W] (H, W multiples of
// `stride`), and objects, their targets in order.
Batch collate_detection(std::vector<DetectionExample> examples, int64_t stride = 32);

}  // namespace eshift
