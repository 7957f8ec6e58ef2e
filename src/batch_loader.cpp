#include "eshift/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace eshift {

std::pair<std::vector<double>, std::vector<double>> channel_stats(const ImageSet& set) {
  auto x = set.images.to(torch::kFloat64).div(255.0).transpose(0, 1).reshape({set.images.size(1), -1});
  auto mean = x.mean(1), std = x.std(1, /*unbiased=*/false);
  std::vector<double> m(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  std::vector<double> s(std.data_ptr<double>(), std.data_ptr<double>() + std.numel());
  return {m, s};
}

BatchLoader::BatchLoader(const ImageSet& set, LoaderOptions options, int epoch)
    : set_(set), options_(std::move(options)) {
  TORCH_CHECK(options_.batch_size >= 1, "batch size must be >= 1, got ", options_.batch_size);
  TORCH_CHECK(options_.crop_padding >= 0, "crop padding must be >= 0");
  TORCH_CHECK(set.images.dim() == 4 && set.images.scalar_type() == torch::kUInt8,
              "images must be uint8 [N, C, H, W]");
  const int64_t n = set.size();
  const int64_t c = set.images.size(1);
  TORCH_CHECK(options_.mean.size() == 1 || int64_t(options_.mean.size()) == c, "need 1 or ", c, " means");
  TORCH_CHECK(options_.std.size() == options_.mean.size(), "need as many stds as means");
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
  if (options_.shuffle) std::shuffle(order_.begin(), order_.end(), rng);
  dy_.assign(n, options_.crop_padding);
  dx_.assign(n, options_.crop_padding);
  flip_.assign(n, 0);
  if (options_.crop_padding > 0) {
    std::uniform_int_distribution<int> offset(0, 2 * options_.crop_padding);
    for (int64_t i = 0; i < n; ++i) {
      dy_[i] = static_cast<int16_t>(offset(rng));
      dx_[i] = static_cast<int16_t>(offset(rng));
    }
  }
  if (options_.hflip) {
    std::bernoulli_distribution coin(0.5);
    for (int64_t i = 0; i < n; ++i) flip_[i] = coin(rng);
  }
  num_batches_ = options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
  if (num_batches_ > 0) prefetch(0);
}

BatchLoader::~BatchLoader() {
  if (pending_.valid()) pending_.wait();
}

void BatchLoader::prefetch(int64_t i) {
  pending_ = std::async(std::launch::async, [this, i] { return make_batch(i); });
}

std::optional<Batch> BatchLoader::next() {
  if (next_ >= num_batches_) return std::nullopt;
  Batch b = pending_.get();
  ++next_;
  if (next_ < num_batches_) prefetch(next_);
  return b;
}

Batch BatchLoader::make_batch(int64_t index) const {
  const int64_t n = set_.size();
  const int64_t begin = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n - begin);
  const int64_t C = set_.images.size(1), H = set_.images.size(2), W = set_.images.size(3);
  const int pad = options_.crop_padding;
  auto images = torch::empty({count, C, H, W}, torch::kFloat32);
  auto labels = torch::empty({count}, torch::kInt64);
  auto src = set_.images.contiguous();
  const uint8_t* in = src.data_ptr<uint8_t>();
  const int64_t* lab = set_.labels.data_ptr<int64_t>();
  float* out = images.data_ptr<float>();
  int64_t* out_lab = labels.data_ptr<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t pos = begin + b;
    const int64_t k = order_[pos];
    out_lab[b] = lab[k];
    const int oy = dy_[pos] - pad, ox = dx_[pos] - pad;  // shift of the crop in [−pad, pad]
    const bool flip = flip_[pos];
    for (int64_t c = 0; c < C; ++c) {
      const size_t ci = options_.mean.size() == 1 ? 0 : size_t(c);
      const float scale = float(1.0 / (255.0 * options_.std[ci]));
      const float shift = float(-options_.mean[ci] / options_.std[ci]);
      const uint8_t* plane = in + (k * C + c) * H * W;
      float* dst = out + (b * C + c) * H * W;
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
  return {images, labels};
}

}  // namespace eshift
