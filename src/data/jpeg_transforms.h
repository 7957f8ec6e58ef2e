#pragma once
// The ImageNet transforms (torchvision's semantics) on encoded JPEG examples, each decoding at the
// smallest DCT scale that keeps the resolution its output needs (data/jpeg.h), then resizing with
// antialiased bilinear interpolation (PIL's, as torchvision's Resize on PIL images; the same
// weights as ATen's _upsample_bilinear2d_aa) and normalizing per channel: (x/255 − mean)/std.
//   RandomResizedCropFlip  training: RandomResizedCrop(size, scale 0.08–1, ratio 3/4–4/3) + flip
//   ResizeCenterCrop       evaluation: Resize(resize, shorter side) + CenterCrop(size)
#include <cstdint>
#include <random>
#include <vector>

#include "eshift/data/jpeg.h"
#include "eshift/data/transform.h"

namespace eshift {

// A crop: top row i, left column j, height h, width w (torchvision's get_params order).
struct CropBox {
  int i = 0, j = 0, h = 0, w = 0;
};

// torchvision's RandomResizedCrop.get_params: up to 10 attempts of an area fraction uniform in
// [scale_min, scale_max] and an aspect ratio log-uniform in [ratio_min, ratio_max], w = round(√(A·r)),
// h = round(√(A/r)); the first that fits is placed uniformly (i in [0, H−h], j in [0, W−w]). After
// 10 misses: the whole image, cut to the nearest allowed aspect ratio, centered.
CropBox random_resized_crop(int width, int height, std::mt19937_64& rng, double scale_min = 0.08,
                            double scale_max = 1.0, double ratio_min = 3.0 / 4, double ratio_max = 4.0 / 3);

// Resizes the region `box` of an RGB (HWC) image to resized_h × resized_w, optionally mirrored, and
// writes `window` of the result normalized as float CHW into `out` (window.h × window.w): two separable passes straight from the 8-bit pixels (a
// tensor per image through ATen cost 3× the JPEG decode itself).
// Only the pixels of `window` (of the resized_h × resized_w result) are computed: a resize followed
// by a crop costs what its crop costs.
void resize_region(const RgbImage& image, const CropBox& box, int resized_h, int resized_w, const CropBox& window,
                   bool flip, const std::vector<double>& mean, const std::vector<double>& std, float* out);

// Both refuse (DataError) an image whose header declares more than max_pixels pixels (data/jpeg.h).
class RandomResizedCropFlip : public Transform {
 public:
  RandomResizedCropFlip(int size, bool flip, std::vector<double> mean, std::vector<double> std,
                        int64_t max_pixels = kDefaultMaxImagePixels);
  ImageShape output_shape(const ImageShape&) const override { return {3, size_, size_}; }
  void draw_epoch(std::mt19937_64& rng, int64_t n) override;
  void apply(const uint8_t*, const ImageShape&, int64_t, float*) const override;  // encoded examples only
  void apply_example(const Example& example, int64_t position, float* out) const override;
  std::unique_ptr<Transform> clone() const override;

 private:
  int size_;
  bool flip_;
  std::vector<double> mean_, std_;
  int64_t max_pixels_;
  std::vector<uint64_t> seeds_;  // per position: the generator of its crop and flip (the crop depends
                                 // on the image's size, known only when it is decoded)
};

class ResizeCenterCrop : public Transform {
 public:
  ResizeCenterCrop(int resize, int size, std::vector<double> mean, std::vector<double> std,
                   int64_t max_pixels = kDefaultMaxImagePixels);
  ImageShape output_shape(const ImageShape&) const override { return {3, size_, size_}; }
  void draw_epoch(std::mt19937_64&, int64_t) override {}
  void apply(const uint8_t*, const ImageShape&, int64_t, float*) const override;  // encoded examples only
  void apply_example(const Example& example, int64_t position, float* out) const override;
  std::unique_ptr<Transform> clone() const override;

 private:
  int resize_, size_;
  std::vector<double> mean_, std_;
  int64_t max_pixels_;
};

}  // namespace eshift
