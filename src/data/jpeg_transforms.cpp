#include "eshift/data/jpeg_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace {
// Four floats as one SSE register (GCC/Clang vector extension): an RGB pixel and a spare lane.
typedef float Float4 __attribute__((vector_size(16)));

// The taps of a 1-D antialiased bilinear resampling of `in` source pixels (starting at `first`) to
// `out` pixels: PIL's and ATen's _upsample_bilinear2d_aa (align_corners false). Output pixel x sits
// at source position c = (x + ½)·s, s = in/out; its weights are the triangle max(0, 1 − |t − c + ½|/f)
// over source pixels t, the filter widened to f = max(s, 1) when shrinking (that is the antialiasing),
// normalized to sum to 1.
struct Taps {
  std::vector<int> start, count;  // per output pixel: first source pixel (absolute), number of taps
  std::vector<float> weights;     // per output pixel: `width` weights (count used)
  int width = 0;
};

// Output pixels [out_first, out_first + out_count) of the `out`-pixel resampling.
Taps make_taps(int first, int in, int out, int out_first, int out_count) {
  const double scale = double(in) / out, filter = std::max(scale, 1.0), support = filter;  // triangle: support 1·f
  Taps t;
  t.width = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.start.resize(out_count);
  t.count.resize(out_count);
  t.weights.assign(size_t(out_count) * t.width, 0.f);
  for (int x = 0; x < out_count; ++x) {
    const double center = (out_first + x + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in);
    double total = 0;
    std::vector<double> w(static_cast<size_t>(hi - lo));
    for (int k = lo; k < hi; ++k) total += w[size_t(k - lo)] = std::max(0.0, 1.0 - std::fabs((k - center + 0.5) / filter));
    t.start[x] = first + lo;
    t.count[x] = hi - lo;
    for (int k = 0; k < hi - lo; ++k) t.weights[size_t(x) * t.width + k] = static_cast<float>(total > 0 ? w[size_t(k)] / total : 0);
  }
  return t;
}
}  // namespace

void resize_region(const RgbImage& image, const CropBox& box, int resized_h, int resized_w, const CropBox& window,
                   bool flip, const std::vector<double>& mean, const std::vector<double>& std, float* out) {
  const int out_h = window.h, out_w = window.w;
  const Taps cols = make_taps(box.j, box.w, resized_w, window.j, out_w), rows = make_taps(box.i, box.h, resized_h, window.i, out_h);
  const float scale[3] = {float(1 / (255 * std[0])), float(1 / (255 * std[1])), float(1 / (255 * std[2]))};
  const float shift[3] = {float(-mean[0] / std[0]), float(-mean[1] / std[1]), float(-mean[2] / std[2])};
  // the columns the horizontal pass reads, as RGB triples
  const int col0 = cols.start.front(), col1 = cols.start.back() + cols.count.back();
  const int span = (col1 - col0) * 3;
  thread_local std::vector<float> line;  // reused: a fresh buffer per image costs its page faults
  line.resize(size_t(span) + 1);          // + 1: the last pixel is read as 4 floats
  for (int y = 0; y < out_h; ++y) {
    // vertical pass: one row of the columns needed, from the 8-bit rows (contiguous: vectorizes)
    std::fill(line.begin(), line.end(), 0.f);
    const float* wy = rows.weights.data() + size_t(y) * rows.width;
    for (int k = 0; k < rows.count[y]; ++k) {
      const uint8_t* src = image.pixels.data() + (size_t(rows.start[y] + k) * image.width + col0) * 3;
      const float w = wy[k];
      for (int i = 0; i < span; ++i) line[size_t(i)] += w * src[i];
    }
    // horizontal pass, mirrored when flipping, then (x/255 − mean)/std into CHW, clamped to [0, 255]
    // as an 8-bit resize would be
    float* r = out + size_t(y) * out_w;
    float* g = r + size_t(out_h) * out_w;
    float* b = g + size_t(out_h) * out_w;
    for (int x = 0; x < out_w; ++x) {
      const float* wx = cols.weights.data() + size_t(x) * cols.width;
      const float* p = line.data() + size_t(cols.start[x] - col0) * 3;
      Float4 sum = {0, 0, 0, 0};  // R, G, B and a lane that is not used: one vector operation a tap
      for (int k = 0; k < cols.count[x]; ++k, p += 3) {
        Float4 pixel;
        std::memcpy(&pixel, p, sizeof pixel);
        sum += wx[k] * pixel;
      }
      const int o = flip ? out_w - 1 - x : x;
      r[o] = std::min(std::max(sum[0], 0.f), 255.f) * scale[0] + shift[0];
      g[o] = std::min(std::max(sum[1], 0.f), 255.f) * scale[1] + shift[1];
      b[o] = std::min(std::max(sum[2], 0.f), 255.f) * scale[2] + shift[2];
    }
  }
}

namespace {
RgbImage decode_example(const Example& example, int scale_denominator, int64_t max_pixels) {
  const std::string source = example.source ? *example.source : "image";
  return decode_jpeg(example.pixels, static_cast<size_t>(example.encoded_size), scale_denominator, source, max_pixels);
}

// `box` of the full width × height image in the coordinates of the image decoded at 1/denominator
// (libjpeg's scaled size: ceil(side / denominator)), at least 1 pixel.
CropBox scaled(const CropBox& box, int denominator, int width, int height) {
  if (denominator == 1) return box;
  const int w = (width + denominator - 1) / denominator, h = (height + denominator - 1) / denominator;
  CropBox s;
  s.i = std::min(box.i / denominator, h - 1);
  s.j = std::min(box.j / denominator, w - 1);
  s.h = std::clamp(static_cast<int>(std::lround(double(box.h) / denominator)), 1, h - s.i);
  s.w = std::clamp(static_cast<int>(std::lround(double(box.w) / denominator)), 1, w - s.j);
  return s;
}

void need_encoded(const Example& example) {
  if (!example.encoded()) throw DataError("the ImageNet transforms take encoded JPEG examples (an image folder's)");
}
}  // namespace

RandomResizedCropFlip::RandomResizedCropFlip(int size, bool flip, std::vector<double> mean, std::vector<double> std,
                                             int64_t max_pixels)
    : size_(size), flip_(flip), mean_(std::move(mean)), std_(std::move(std)), max_pixels_(max_pixels) {
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
  const auto header = read_jpeg_header(example.pixels, static_cast<size_t>(example.encoded_size), source, max_pixels_);
  std::mt19937_64 rng(seeds_[position]);
  const CropBox box = random_resized_crop(header.width, header.height, rng);
  const bool flip = flip_ && std::bernoulli_distribution(0.5)(rng);
  const int denominator = dct_scale_for(box.w, box.h, size_, size_);
  const CropBox s = scaled(box, denominator, header.width, header.height);
  // only the crop is decoded (the columns widened to whole iMCUs: image.left says where it starts)
  thread_local RgbImage image;  // its buffer reused image after image
  decode_jpeg_region(example.pixels, static_cast<size_t>(example.encoded_size), denominator, s.i, s.j, s.h, s.w, source,
                     image, max_pixels_);
  const CropBox local{s.i - image.top, s.j - image.left, std::min(s.h, image.height), std::min(s.w, image.width - (s.j - image.left))};
  resize_region(image, local, size_, size_, {0, 0, size_, size_}, flip, mean_, std_, out);
}

std::unique_ptr<Transform> RandomResizedCropFlip::clone() const {
  return std::make_unique<RandomResizedCropFlip>(size_, flip_, mean_, std_, max_pixels_);
}

ResizeCenterCrop::ResizeCenterCrop(int resize, int size, std::vector<double> mean, std::vector<double> std,
                                   int64_t max_pixels)
    : resize_(resize), size_(size), mean_(std::move(mean)), std_(std::move(std)), max_pixels_(max_pixels) {
  TORCH_CHECK(size_ >= 1 && resize_ >= size_, "need resize >= crop size >= 1");
  TORCH_CHECK(mean_.size() == 3 && std_.size() == 3, "need 3 means and stds");
}

void ResizeCenterCrop::apply(const uint8_t*, const ImageShape&, int64_t, float*) const {
  throw DataError("ResizeCenterCrop takes encoded JPEG examples");
}

void ResizeCenterCrop::apply_example(const Example& example, int64_t, float* out) const {
  need_encoded(example);
  const std::string source = example.source ? *example.source : "image";
  const auto header = read_jpeg_header(example.pixels, static_cast<size_t>(example.encoded_size), source, max_pixels_);
  // torchvision's Resize(int): the shorter side becomes resize_, the longer int(resize_ · long / short)
  const bool wide = header.width >= header.height;
  const int shorter = wide ? header.height : header.width, longer = wide ? header.width : header.height;
  const int new_short = resize_, new_long = static_cast<int>(double(resize_) * longer / shorter);
  const int new_w = wide ? new_long : new_short, new_h = wide ? new_short : new_long;
  const int denominator = dct_scale_for(header.width, header.height, new_w, new_h);
  const RgbImage image = decode_example(example, denominator, max_pixels_);
  // the center crop of the resized image (CenterCrop's rounding), computed for those pixels only
  const int top = static_cast<int>(std::lround((new_h - size_) / 2.0)), left = static_cast<int>(std::lround((new_w - size_) / 2.0));
  resize_region(image, {0, 0, image.height, image.width}, new_h, new_w, {top, left, size_, size_}, false, mean_, std_, out);
}

std::unique_ptr<Transform> ResizeCenterCrop::clone() const {
  return std::make_unique<ResizeCenterCrop>(resize_, size_, mean_, std_, max_pixels_);
}

}  // namespace eshift
