// The pad-crop-flip transform: its random choices come from the epoch's generator in a fixed order
// (the order eshift has always drawn them in, so runs stay reproducible across versions), and
// applying them moves whole images.
#include <gtest/gtest.h>

#include <random>

#include "eshift/data/transform.h"

using namespace eshift;

namespace {
// Applies `t` to a uint8 [C, H, W] tensor.
void apply(const Transform& t, const torch::Tensor& image, int64_t position, float* out) {
  t.apply(image.data_ptr<uint8_t>(), {image.size(0), image.size(1), image.size(2)}, position, out);
}

// Pixel (c, y, x) of a [C, H, W] float output.
float pixel(const std::vector<float>& out, int64_t H, int64_t W, int64_t c, int64_t y, int64_t x) {
  return out[(c * H + y) * W + x];
}
}  // namespace

TEST(PadCropFlip, DrawsCropsThenFlipsFromTheEpochGenerator) {
  PadCropFlip t(2, true, {0.0}, {1.0});
  std::mt19937_64 rng(42), reference(42);
  t.draw_epoch(rng, 3);
  // what it must have drawn: (dy, dx) per position, then one coin per position
  std::uniform_int_distribution<int> offset(0, 4);
  std::vector<int> dy, dx;
  for (int i = 0; i < 3; ++i) {
    dy.push_back(offset(reference));
    dx.push_back(offset(reference));
  }
  std::bernoulli_distribution coin(0.5);
  std::vector<bool> flip;
  for (int i = 0; i < 3; ++i) flip.push_back(coin(reference));
  EXPECT_EQ(rng(), reference());  // the generator advanced exactly as far
  // a 1×5×5 image with distinct pixels, value 10·y + x
  auto image = torch::empty({1, 5, 5}, torch::kUInt8);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) image[0][y][x] = 10 * y + x;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> out(25);
    apply(t, image, i, out.data());
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 5; ++x) {
        const int sx = (flip[i] ? 4 - x : x) + dx[i] - 2, sy = y + dy[i] - 2;
        const float expected = (sy >= 0 && sy < 5 && sx >= 0 && sx < 5) ? float(10 * sy + sx) / 255.f : 0.f;
        EXPECT_NEAR(pixel(out, 5, 5, 0, y, x), expected, 1e-6) << i << " " << y << " " << x;
      }
  }
}

TEST(PadCropFlip, WithoutAugmentationItOnlyNormalizesAndDrawsNothing) {
  PadCropFlip t(0, false, {0.5, 0.25}, {0.5, 0.25});
  std::mt19937_64 rng(7), untouched(7);
  t.draw_epoch(rng, 10);
  EXPECT_EQ(rng(), untouched());
  auto image = torch::full({2, 1, 2}, 255, torch::kUInt8);
  std::vector<float> out(4);
  apply(t, image, 3, out.data());
  EXPECT_FLOAT_EQ(out[0], 1.0f);   // (1 − 0.5)/0.5
  EXPECT_FLOAT_EQ(out[2], 3.0f);   // (1 − 0.25)/0.25
  EXPECT_THROW(PadCropFlip(1, false, {0.1, 0.2}, {1.0}), c10::Error);  // means and stds differ in count
}

TEST(PadCropFlip, ACloneDrawsItsOwnEpoch) {
  PadCropFlip t(1, true, {0.0}, {1.0}), reference(1, true, {0.0}, {1.0});
  std::mt19937_64 a(1), b(1), c(2);
  t.draw_epoch(a, 50);
  reference.draw_epoch(b, 50);
  auto copy = t.clone();
  copy->draw_epoch(c, 50);  // another epoch in the copy leaves the original's choices alone
  auto image = torch::randint(0, 256, {1, 6, 6}, torch::kInt64).to(torch::kUInt8);
  std::vector<float> x(36), y(36), z(36);
  int differ = 0;
  for (int i = 0; i < 50; ++i) {
    apply(t, image, i, x.data());
    apply(reference, image, i, y.data());
    apply(*copy, image, i, z.data());
    EXPECT_EQ(x, y) << i;
    differ += x != z;
  }
  EXPECT_GT(differ, 10);  // the copy's epoch is its own
}
