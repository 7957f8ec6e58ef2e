#include "eshift/data/transform.h"

namespace eshift {

PadCropFlip::PadCropFlip(int padding, bool flip, std::vector<double> mean, std::vector<double> std)
    : padding_(padding), flip_(flip), mean_(std::move(mean)), std_(std::move(std)) {
  TORCH_CHECK(padding_ >= 0, "crop padding must be >= 0");
  TORCH_CHECK(!mean_.empty() && std_.size() == mean_.size(), "need as many stds as means");
}

void PadCropFlip::draw_epoch(std::mt19937_64& rng, int64_t n) {
  dy_.assign(n, padding_);
  dx_.assign(n, padding_);
  flips_.assign(n, 0);
  if (padding_ > 0) {
    std::uniform_int_distribution<int> offset(0, 2 * padding_);
    for (int64_t i = 0; i < n; ++i) {
      dy_[i] = static_cast<int16_t>(offset(rng));
      dx_[i] = static_cast<int16_t>(offset(rng));
    }
  }
  if (flip_) {
    std::bernoulli_distribution coin(0.5);
    for (int64_t i = 0; i < n; ++i) flips_[i] = coin(rng);
  }
}

void PadCropFlip::apply(const uint8_t* in, const ImageShape& shape, int64_t position, float* out) const {
  const int64_t C = shape.channels, H = shape.height, W = shape.width;
  TORCH_CHECK(mean_.size() == 1 || int64_t(mean_.size()) == C, "need 1 or ", C, " means");
  TORCH_CHECK(padding_ == 0 || position < int64_t(dy_.size()), "random crops not drawn for position ", position);
  // shift of the crop in [−padding, padding]; 0 without padding
  const int oy = padding_ ? dy_[position] - padding_ : 0, ox = padding_ ? dx_[position] - padding_ : 0;
  const bool flip = flip_ && flips_.at(position);
  for (int64_t c = 0; c < C; ++c) {
    const size_t ci = mean_.size() == 1 ? 0 : size_t(c);
    const float scale = float(1.0 / (255.0 * std_[ci]));
    const float shift = float(-mean_[ci] / std_[ci]);
    const uint8_t* plane = in + c * H * W;
    float* dst = out + c * H * W;
    for (int64_t y = 0; y < H; ++y) {
      const int64_t sy = y + oy;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t xx = flip ? W - 1 - x : x;  // flip the cropped image
        const int64_t sx = xx + ox;
        const float v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? float(plane[sy * W + sx]) : 0.f;
        dst[y * W + x] = v * scale + shift;
      }
    }
  }
}

std::unique_ptr<Transform> PadCropFlip::clone() const {
  return std::make_unique<PadCropFlip>(padding_, flip_, mean_, std_);
}

}  // namespace eshift
