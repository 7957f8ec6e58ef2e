#include "eshift/data/detection.h"

#include <cmath>

namespace eshift {

DetectionTransform::DetectionTransform(DetectionTransformOptions options) : options_(std::move(options)) {
  TORCH_CHECK(options_.min_size >= 1 && options_.max_size >= options_.min_size,
              "--min-size must be >= 1 and --max-size >= --min-size, got ", options_.min_size, " and ",
              options_.max_size);
  TORCH_CHECK(options_.mean.size() == 3 && options_.std.size() == 3, "detection normalization needs 3 channels");
}

void DetectionTransform::draw_epoch(std::mt19937_64& rng, int64_t n) {
  flips_.assign(size_t(n), 0);
  if (!options_.hflip) return;
  std::bernoulli_distribution coin(0.5);
  for (auto& f : flips_) f = coin(rng);
}

std::array<int64_t, 2> DetectionTransform::resized_size(int64_t height, int64_t width) const {
  // torchvision's _resize_image_and_masks: one scale for both sides, then
  // interpolate(scale_factor=s, recompute_scale_factor=True), whose sides are floor(side · s)
  const double short_side = double(std::min(height, width)), long_side = double(std::max(height, width));
  const double scale = std::min(double(options_.min_size) / short_side, double(options_.max_size) / long_side);
  return {int64_t(std::floor(double(height) * scale)), int64_t(std::floor(double(width) * scale))};
}

DetectionExample DetectionTransform::apply(const torch::Tensor& image, DetectionTarget target, int64_t position) const {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3 && image.scalar_type() == torch::kUInt8,
              "a detection image is uint8 [3, h, w]");
  const int64_t h = image.size(1), w = image.size(2);
  torch::Tensor x = image;
  if (position >= 0 && size_t(position) < flips_.size() && flips_[size_t(position)]) {
    x = x.flip({2});
    if (target.boxes.numel() > 0) {
      // x1' = W − x2, x2' = W − x1
      auto flipped = target.boxes.clone();
      flipped.select(1, 0).copy_(float(w) - target.boxes.select(1, 2));
      flipped.select(1, 2).copy_(float(w) - target.boxes.select(1, 0));
      target.boxes = flipped;
    }
    if (target.masks.defined()) target.masks = target.masks.flip({2});
  }
  const auto mean = torch::tensor(options_.mean, torch::kFloat32).view({3, 1, 1});
  const auto std = torch::tensor(options_.std, torch::kFloat32).view({3, 1, 1});
  x = (x.to(torch::kFloat32) / 255.0f - mean) / std;
  const auto [nh, nw] = resized_size(h, w);
  x = at::upsample_bilinear2d(x.unsqueeze(0), {nh, nw}, false).squeeze(0);
  if (target.boxes.numel() > 0) {
    // torchvision's resize_boxes: the ratios in float32
    const float ratio_h = float(nh) / float(h), ratio_w = float(nw) / float(w);
    target.boxes = target.boxes * torch::tensor({ratio_w, ratio_h, ratio_w, ratio_h}, torch::kFloat32);
  }
  if (target.masks.defined() && target.masks.size(0) > 0)
    target.masks = at::upsample_nearest2d(target.masks.unsqueeze(1).to(torch::kFloat32), {nh, nw}).squeeze(1).to(torch::kUInt8);
  else if (target.masks.defined())
    target.masks = torch::zeros({0, nh, nw}, torch::kUInt8);
  target.original_size = {h, w};
  target.size = {nh, nw};
  return {x.contiguous(), std::move(target)};
}

Batch collate_detection(std::vector<DetectionExample> examples, int64_t stride) {
  TORCH_CHECK(!examples.empty(), "a detection batch needs at least one image");
  int64_t height = 0, width = 0;
  for (const auto& e : examples) {
    height = std::max(height, e.image.size(1));
    width = std::max(width, e.image.size(2));
  }
  height = (height + stride - 1) / stride * stride;
  width = (width + stride - 1) / stride * stride;
  Batch batch;
  batch.inputs = torch::zeros({int64_t(examples.size()), 3, height, width}, torch::kFloat32);
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& image = examples[i].image;
    batch.inputs[int64_t(i)].narrow(1, 0, image.size(1)).narrow(2, 0, image.size(2)).copy_(image);
    batch.objects.push_back(std::move(examples[i].target));
  }
  return batch;
}

}  // namespace eshift
