#pragma once
// Transforms turn decoded uint8 images into model inputs. Every random choice of an epoch is drawn
// up front, in example order, from the epoch's generator (see batch_loader.h); apply() then only
// reads those choices, so worker threads can transform any example in any order and an epoch
// stays a function of (seed, epoch).
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "eshift/data/example.h"

namespace eshift {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual ImageShape output_shape(const ImageShape& input) const = 0;
  // Draws the random choices for positions 0..n-1 of an epoch, in order, from `rng`.
  virtual void draw_epoch(std::mt19937_64& rng, int64_t n) = 0;
  // Writes the input for the uint8 [C, H, W] image `pixels` of `shape` at epoch position
  // `position` into `out` (float32, output_shape's C·H·W values).
  virtual void apply(const uint8_t* pixels, const ImageShape& shape, int64_t position, float* out) const = 0;
  // The same for a dataset's example: its decoded pixels through apply(), unless the transform
  // decodes the example itself (an encoded one: data/jpeg_transforms.h). Throws DataError naming
  // the example's file when it cannot be decoded.
  virtual void apply_example(const Example& example, int64_t position, float* out) const {
    apply(example.pixels, example.shape, position, out);
  }
  // A copy without drawn choices (each loader draws its own epoch into a copy).
  virtual std::unique_ptr<Transform> clone() const = 0;
};

// The CIFAR/MNIST augmentation: a random crop of the original size from the image zero-padded by
// `padding` pixels, a random horizontal flip (probability ½), then per-channel normalization
// (x/255 − mean)/std. padding = 0 and flip = false: normalization only (evaluation).
class PadCropFlip : public Transform {
 public:
  // mean and std hold one value per channel, or one value for all.
  PadCropFlip(int padding, bool flip, std::vector<double> mean, std::vector<double> std);
  ImageShape output_shape(const ImageShape& input) const override { return input; }
  void draw_epoch(std::mt19937_64& rng, int64_t n) override;
  void apply(const uint8_t* pixels, const ImageShape& shape, int64_t position, float* out) const override;
  std::unique_ptr<Transform> clone() const override;

 private:
  int padding_;
  bool flip_;
  std::vector<double> mean_, std_;
  std::vector<int16_t> dy_, dx_;   // crop offsets per position, in [0, 2·padding]
  std::vector<uint8_t> flips_;     // 1 = flip
};

}  // namespace eshift
