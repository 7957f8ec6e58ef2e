#include "eshift/data/jpeg_transforms.h"

#include <algorithm>
#include <cmath>

#include "eshift/core/errors.h"

namespace eshift {

CropBox random_resized_crop(int width, int height, std::mt19937_64& rng, double scale_min, double scale_max,
                            double ratio_min, double ratio_max) {
  const double area = double(width) * height;
  std::uniform_real_distribution<double> scale(scale_min, scale_max), log_ratio(std::log(ratio_min), std::log(ratio_max));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * scale(rng);
    const double ratio = std::exp(log_ratio(rng));
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int i = std::uniform_int_distribution<int>(0, height - h)(rng);
      const int j = std::uniform_int_distribution<int>(0, width - w)(rng);
      return {i, j, h, w};
    }
  }
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min) {
    h = static_cast<int>(std::lround(w / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = static_cast<int>(std::lround(h * ratio_max));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void resize_region(const RgbImage& image, const CropBox& box, int out_h, int out_w, bool flip,
                   const std::vector<double>& mean, const std::vector<double>& std, float* out) {
  auto hwc = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8);
  auto region = hwc.narrow(0, box.i, box.h).narrow(1, box.j, box.w).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  if (box.h != out_h || box.w != out_w)
    region = torch::nn::functional::interpolate(region, torch::nn::functional::InterpolateFuncOptions()
                                                            .size(std::vector<int64_t>{out_h, out_w})
                                                            .mode(torch::kBilinear)
                                                            .align_corners(false)
                                                            .antialias(true));
  if (flip) region = region.flip(3);
  auto dst = torch::from_blob(out, {1, 3, out_h, out_w}, torch::kFloat32);
  for (int c = 0; c < 3; ++c)  // (x/255 − mean)/std, x clamped to [0, 255] as PIL's resize rounds
    dst[0][c].copy_(region[0][c].clamp(0, 255).mul(1.0 / (255.0 * std[c])).sub(mean[c] / std[c]));
}

namespace {
RgbImage decode_example(const Example& example, int scale_denominator) {
  const std::string source = example.source ? *example.source : "image";
  return decode_jpeg(example.pixels, static_cast<size_t>(example.encoded_size), scale_denominator, source);
}

// `box` of the full image in the coordinates of the image decoded at 1/denominator (at least 1 pixel).
CropBox scaled(const CropBox& box, int denominator, const RgbImage& decoded) {
  if (denominator == 1) return box;
  CropBox s;
  s.i = std::min(box.i / denominator, decoded.height - 1);
  s.j = std::min(box.j / denominator, decoded.width - 1);
  s.h = std::clamp(static_cast<int>(std::lround(double(box.h) / denominator)), 1, decoded.height - s.i);
  s.w = std::clamp(static_cast<int>(std::lround(double(box.w) / denominator)), 1, decoded.width - s.j);
  return s;
}

void need_encoded(const Example& example) {
  if (!example.encoded()) throw DataError("the ImageNet transforms take encoded JPEG examples (an image folder's)");
}
}  // namespace

RandomResizedCropFlip::RandomResizedCropFlip(int size, bool flip, std::vector<double> mean, std::vector<double> std)
    : size_(size), flip_(flip), mean_(std::move(mean)), std_(std::move(std)) {
  TORCH_CHECK(size_ >= 1, "crop size must be >= 1");
  TORCH_CHECK(mean_.size() == 3 && std_.size() == 3, "need 3 means and stds");
}

void RandomResizedCropFlip::draw_epoch(std::mt19937_64& rng, int64_t n) {
  seeds_.resize(n);
  for (auto& s : seeds_) s = rng();
}

void RandomResizedCropFlip::apply(const uint8_t*, const ImageShape&, int64_t, float*) const {
  throw DataError("RandomResizedCropFlip takes encoded JPEG examples");
}

void RandomResizedCropFlip::apply_example(const Example& example, int64_t position, float* out) const {
  need_encoded(example);
  TORCH_CHECK(position < int64_t(seeds_.size()), "random crops not drawn for position ", position);
  const std::string source = example.source ? *example.source : "image";
  const auto header = read_jpeg_header(example.pixels, static_cast<size_t>(example.encoded_size), source);
  std::mt19937_64 rng(seeds_[position]);
  const CropBox box = random_resized_crop(header.width, header.height, rng);
  const bool flip = flip_ && std::bernoulli_distribution(0.5)(rng);
  const int denominator = dct_scale_for(box.w, box.h, size_, size_);
  const RgbImage image = decode_example(example, denominator);
  resize_region(image, scaled(box, denominator, image), size_, size_, flip, mean_, std_, out);
}

std::unique_ptr<Transform> RandomResizedCropFlip::clone() const {
  return std::make_unique<RandomResizedCropFlip>(size_, flip_, mean_, std_);
}

ResizeCenterCrop::ResizeCenterCrop(int resize, int size, std::vector<double> mean, std::vector<double> std)
    : resize_(resize), size_(size), mean_(std::move(mean)), std_(std::move(std)) {
  TORCH_CHECK(size_ >= 1 && resize_ >= size_, "need resize >= crop size >= 1");
  TORCH_CHECK(mean_.size() == 3 && std_.size() == 3, "need 3 means and stds");
}

void ResizeCenterCrop::apply(const uint8_t*, const ImageShape&, int64_t, float*) const {
  throw DataError("ResizeCenterCrop takes encoded JPEG examples");
}

void ResizeCenterCrop::apply_example(const Example& example, int64_t, float* out) const {
  need_encoded(example);
  const std::string source = example.source ? *example.source : "image";
  const auto header = read_jpeg_header(example.pixels, static_cast<size_t>(example.encoded_size), source);
  // torchvision's Resize(int): the shorter side becomes resize_, the longer int(resize_ · long / short)
  const bool wide = header.width >= header.height;
  const int shorter = wide ? header.height : header.width, longer = wide ? header.width : header.height;
  const int new_short = resize_, new_long = static_cast<int>(double(resize_) * longer / shorter);
  const int new_w = wide ? new_long : new_short, new_h = wide ? new_short : new_long;
  const int denominator = dct_scale_for(header.width, header.height, new_w, new_h);
  const RgbImage image = decode_example(example, denominator);
  // resize the whole (decoded) image, then take the center crop (CenterCrop's rounding)
  std::vector<float> resized(size_t(3) * new_h * new_w);
  const std::vector<double> zero{0, 0, 0}, unit{1.0 / 255, 1.0 / 255, 1.0 / 255};  // keep 0–255 values
  resize_region(image, {0, 0, image.height, image.width}, new_h, new_w, false, zero, unit, resized.data());
  const int top = static_cast<int>(std::lround((new_h - size_) / 2.0)), left = static_cast<int>(std::lround((new_w - size_) / 2.0));
  auto full = torch::from_blob(resized.data(), {3, new_h, new_w}, torch::kFloat32);
  auto crop = full.narrow(1, std::max(top, 0), std::min(size_, new_h)).narrow(2, std::max(left, 0), std::min(size_, new_w));
  auto dst = torch::from_blob(out, {3, size_, size_}, torch::kFloat32);
  for (int c = 0; c < 3; ++c) dst[c].copy_(crop[c].mul(1.0 / (255.0 * std_[c])).sub(mean_[c] / std_[c]));
}

std::unique_ptr<Transform> ResizeCenterCrop::clone() const {
  return std::make_unique<ResizeCenterCrop>(resize_, size_, mean_, std_);
}

}  // namespace eshift
