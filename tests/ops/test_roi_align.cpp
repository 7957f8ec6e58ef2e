// RoIAlign (ops/roi_align.h): the CPU kernel against the definition written out here (bilinear
// interpolation of the map at every sampling point, averaged per bin), hand cases on a linear map
// whose interpolation is known in closed form, finite differences for the gradient, the LibTorch-ops
// reference path, and channels-last against contiguous input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <torch/torch.h>
#include <vector>

#include "eshift/ops/roi_align.h"

using namespace eshift;

namespace {

// Bilinear interpolation of one H×W map at (y, x): 0 off the map (beyond one pixel outside),
// otherwise the coordinates clamped into [0, H−1]×[0, W−1] and the four neighbours weighted.
double ra_bilinear(const torch::TensorAccessor<double, 2>& map, int64_t H, int64_t W, double y, double x) {
  if (y < -1.0 || y > H || x < -1.0 || x > W) return 0.0;
  y = std::min(std::max(y, 0.0), double(H - 1));
  x = std::min(std::max(x, 0.0), double(W - 1));
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
  const double ly = y - y0, lx = x - x0;
  return (1 - ly) * (1 - lx) * map[y0][x0] + (1 - ly) * lx * map[y0][x1] + ly * (1 - lx) * map[y1][x0] +
         ly * lx * map[y1][x1];
}

torch::Tensor ra_by_definition(const torch::Tensor& input, const torch::Tensor& rois, int64_t oh, int64_t ow,
                               double scale, int64_t sampling_ratio, bool aligned) {
  auto in = input.detach().to(torch::kFloat64).contiguous();
  auto r = rois.detach().to(torch::kFloat64).contiguous();
  auto a = in.accessor<double, 4>();
  auto ra = r.accessor<double, 2>();
  const int64_t K = r.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
  auto out = torch::zeros({K, C, oh, ow}, torch::kFloat64);
  auto o = out.accessor<double, 4>();
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = static_cast<int64_t>(ra[k][0]);
    const double off = aligned ? 0.5 : 0.0;
    const double x0 = ra[k][1] * scale - off, y0 = ra[k][2] * scale - off;
    double rw = ra[k][3] * scale - off - x0, rh = ra[k][4] * scale - off - y0;
    if (!aligned) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
    const double bw = rw / ow, bh = rh / oh;
    const int64_t gh = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rh / oh));
    const int64_t gw = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(rw / ow));
    const double count = std::max<int64_t>(gh * gw, 1);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < oh; ++ph)
        for (int64_t pw = 0; pw < ow; ++pw) {
          double sum = 0;
          for (int64_t iy = 0; iy < gh; ++iy)
            for (int64_t ix = 0; ix < gw; ++ix) {
              const double y = y0 + ph * bh + (iy + 0.5) * bh / gh;
              const double x = x0 + pw * bw + (ix + 0.5) * bw / gw;
              sum += ra_bilinear(a[b][c], H, W, y, x);
            }
          o[k][c][ph][pw] = sum / count;
        }
  }
  return out;
}

torch::Tensor ra_rois(std::vector<double> v) { return torch::tensor(v, torch::kFloat64).view({-1, 5}); }

// The linear map F[c][y][x] = 10·y + x (+ 100·c): bilinear interpolation reproduces it exactly on
// the map, so a bin's value is F at the mean of its (clamped) sampling points.
torch::Tensor ra_linear_map(int64_t C, int64_t H, int64_t W) {
  auto y = torch::arange(H, torch::kFloat64).view({1, H, 1});
  auto x = torch::arange(W, torch::kFloat64).view({1, 1, W});
  auto c = torch::arange(C, torch::kFloat64).view({C, 1, 1});
  return (10 * y + x + 100 * c).unsqueeze(0).contiguous();
}

// Rois that exercise every rule: inside, on pixel edges, partly and wholly off the map (negative
// coordinates, beyond W and H), zero-size, tiny, larger than the map, overlapping each other.
torch::Tensor ra_hand_rois() {
  return ra_rois({0, 1.0, 1.0, 5.0, 4.0,      // inside
                  1, 0.0, 0.0, 8.0, 6.0,      // on pixel edges, the whole map of image 1
                  0, -3.0, -2.0, 2.5, 3.0,    // partly at negative coordinates
                  1, 5.5, 4.0, 11.0, 9.5,     // beyond W and H
                  0, -9.0, -9.0, -4.0, -3.0,  // wholly off the map
                  1, 3.0, 2.0, 3.0, 2.0,      // zero size
                  0, 2.2, 2.9, 2.3, 3.0,      // tiny
                  0, -2.0, -1.0, 12.0, 9.0,   // larger than the map
                  1, 1.5, 0.5, 6.5, 5.5});    // overlaps the others of image 1
}

torch::Tensor ra_random_input(std::vector<int64_t> shape, int64_t seed, torch::ScalarType dtype = torch::kFloat64) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, gen, dtype);
}

torch::Tensor ra_random_rois(int64_t n, int64_t images, double extent, int64_t seed,
                             torch::ScalarType dtype = torch::kFloat64) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto b = torch::randint(0, images, {n, 1}, gen, torch::kFloat64);
  auto xy = torch::rand({n, 2}, gen, torch::kFloat64) * extent - 2;
  auto wh = torch::rand({n, 2}, gen, torch::kFloat64) * extent * 0.6;
  return torch::cat({b, xy, xy + wh}, 1).to(dtype);
}

}  // namespace

TEST(RoiAlign, HandCasesOnLinearMap) {
  const int64_t H = 5, W = 6;
  auto map = ra_linear_map(2, H, W);
  auto one = [&](std::vector<double> roi, bool aligned, int64_t sr, int64_t oh = 1, int64_t ow = 1,
                 double scale = 1.0) { return roi_align(map, ra_rois(roi), {oh, ow}, scale, sr, aligned); };
  // samples y, x ∈ {1.5, 2.5}: F(2, 2) = 22 (channel 1: +100)
  auto v = one({0, 1, 1, 3, 3}, false, 2);
  EXPECT_NEAR(v[0][0][0][0].item<double>(), 22.0, 1e-12);
  EXPECT_NEAR(v[0][1][0][0].item<double>(), 122.0, 1e-12);
  // aligned: shifted by half a pixel, samples {1, 2}: F(1.5, 1.5) = 16.5
  EXPECT_NEAR(one({0, 1, 1, 3, 3}, true, 2)[0][0][0][0].item<double>(), 16.5, 1e-12);
  // x samples −2.75, −2.25 lie beyond one pixel left of the map: 0
  EXPECT_EQ(one({0, -3, 1, -2, 2}, false, 2)[0][0][0][0].item<double>(), 0.0);
  // x samples −0.75, −0.25 within that pixel are clamped to 0; y samples 1.25, 1.75: F(1.5, 0) = 15
  EXPECT_NEAR(one({0, -1, 1, 0, 2}, false, 2)[0][0][0][0].item<double>(), 15.0, 1e-12);
  // x samples 5.25, 5.75 ∈ (W−1, W]: clamped to W−1 = 5: F(1.5, 5) = 20; samples 6.25, 6.75 > W: 0
  EXPECT_NEAR(one({0, 5, 1, 6, 2}, false, 2)[0][0][0][0].item<double>(), 20.0, 1e-12);
  EXPECT_EQ(one({0, 6, 1, 7, 2}, false, 2)[0][0][0][0].item<double>(), 0.0);
  // y beyond the bottom edge: samples 4.25, 4.75 ∈ (H−1, H] clamp to 4; x samples 1.25, 1.75: F(4, 1.5) = 41.5
  EXPECT_NEAR(one({0, 1, 4, 2, 5}, false, 2)[0][0][0][0].item<double>(), 41.5, 1e-12);
  // zero-size RoI, not aligned: forced to 1×1, samples {2.25, 2.75}: F(2.5, 2.5) = 27.5
  EXPECT_NEAR(one({0, 2, 2, 2, 2}, false, 2)[0][0][0][0].item<double>(), 27.5, 1e-12);
  // zero-size, aligned: every sample at (1.5, 1.5): 16.5; with the adaptive grid (ceil(0) = 0
  // samples) the bin is empty: 0
  EXPECT_NEAR(one({0, 2, 2, 2, 2}, true, 2)[0][0][0][0].item<double>(), 16.5, 1e-12);
  EXPECT_EQ(one({0, 2, 2, 2, 2}, true, 0)[0][0][0][0].item<double>(), 0.0);
  // adaptive grid: a 4×3 RoI in one bin samples 3 rows × 4 columns at the pixel centres: F(1.5, 2) = 17
  EXPECT_NEAR(one({0, 0, 0, 4, 3}, false, -1)[0][0][0][0].item<double>(), 17.0, 1e-12);
  // spatial scale ½ and a 2×2 output: box [2,4,6,8]/2 = [1,2,3,4], one sample per bin at its centre;
  // rows are y (ph), columns x (pw)
  auto grid = one({0, 2, 4, 6, 8}, false, 1, 2, 2, 0.5);
  EXPECT_NEAR(grid[0][0][0][0].item<double>(), 26.5, 1e-12);
  EXPECT_NEAR(grid[0][0][0][1].item<double>(), 27.5, 1e-12);
  EXPECT_NEAR(grid[0][0][1][0].item<double>(), 36.5, 1e-12);
  EXPECT_NEAR(grid[0][0][1][1].item<double>(), 37.5, 1e-12);
  // the batch index selects the image
  auto two = torch::cat({map, map + 1000});
  EXPECT_NEAR(roi_align(two, ra_rois({1, 1, 1, 3, 3}), {1, 1}, 1.0, 2, false)[0][0][0][0].item<double>(), 1022.0,
              1e-12);
}

TEST(RoiAlign, ForwardMatchesDefinition) {
  auto input = ra_random_input({2, 3, 6, 8}, 1);
  auto rois = ra_hand_rois();
  for (bool aligned : {false, true})
    for (int64_t sr : {-1, 0, 1, 2, 3})
      for (double scale : {1.0, 0.5})
        for (auto os : {std::array<int64_t, 2>{2, 3}, std::array<int64_t, 2>{1, 1}}) {
          auto got = roi_align(input, rois, os, scale, sr, aligned);
          auto want = ra_by_definition(input, rois, os[0], os[1], scale, sr, aligned);
          ASSERT_EQ(got.sizes(), want.sizes());
          EXPECT_TRUE(torch::allclose(got, want, 0, 1e-12))
              << "aligned " << aligned << " sr " << sr << " scale " << scale << "\n"
              << (got - want).abs().max();
        }
  // float32 agrees with the float64 definition to float precision
  auto got32 = roi_align(input.to(torch::kFloat), rois.to(torch::kFloat), {3, 3}, 0.5, 2, true);
  EXPECT_EQ(got32.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(got32.to(torch::kFloat64), ra_by_definition(input, rois, 3, 3, 0.5, 2, true), 1e-5,
                              1e-5));
  // the RoI wholly off the map gives exactly 0
  EXPECT_EQ(roi_align(input, rois, {2, 2}, 1.0, 2, false)[4].abs().max().item<double>(), 0.0);
}

TEST(RoiAlign, EmptyRoisAndEmptyChannels) {
  auto input = ra_random_input({2, 3, 5, 5}, 2).requires_grad_();
  auto out = roi_align(input, torch::zeros({0, 5}, torch::kFloat64), {7, 7}, 1.0, 2, false);
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({0, 3, 7, 7}));
  out.sum().backward();
  ASSERT_TRUE(input.grad().defined());
  EXPECT_EQ(input.grad().sizes(), input.sizes());
  EXPECT_EQ(input.grad().abs().sum().item<double>(), 0.0);
  auto ref = roi_align_reference(input, torch::zeros({0, 5}, torch::kFloat64), {7, 7}, 1.0, 2, false);
  EXPECT_EQ(ref.sizes(), torch::IntArrayRef({0, 3, 7, 7}));
  EXPECT_EQ(roi_align(torch::zeros({1, 0, 4, 4}), ra_rois({0, 0, 0, 2, 2}).to(torch::kFloat), {2, 2}, 1.0, 2, false)
                .sizes(),
            torch::IntArrayRef({1, 0, 2, 2}));
}

TEST(RoiAlign, GradientMatchesFiniteDifferences) {
  auto input = ra_random_input({2, 2, 5, 6}, 3);
  auto rois = ra_hand_rois();
  auto weights = ra_random_input({rois.size(0), 2, 2, 3}, 4);
  for (bool aligned : {false, true})
    for (int64_t sr : {2, -1}) {
      auto x = input.clone().requires_grad_();
      (roi_align(x, rois, {2, 3}, 0.75, sr, aligned) * weights).sum().backward();
      auto grad = x.grad();
      auto numeric = torch::zeros_like(input);
      auto flat = input.clone().view({-1});
      const double eps = 1e-6;
      for (int64_t i = 0; i < flat.numel(); ++i) {
        auto loss = [&](double delta) {
          auto p = flat.clone();
          p[i] += delta;
          return (roi_align(p.view(input.sizes()), rois, {2, 3}, 0.75, sr, aligned) * weights).sum().item<double>();
        };
        numeric.view({-1})[i] = (loss(eps) - loss(-eps)) / (2 * eps);
      }
      EXPECT_TRUE(torch::allclose(grad, numeric, 0, 1e-6))
          << "aligned " << aligned << " sr " << sr << ": " << (grad - numeric).abs().max();
      EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
    }
}

TEST(RoiAlign, GradientIgnoresRois) {
  auto input = ra_random_input({1, 2, 5, 5}, 5).requires_grad_();
  auto rois = ra_rois({0, 0.5, 0.5, 3.5, 4.0}).requires_grad_();
  roi_align(input, rois, {2, 2}, 1.0, 2, false).sum().backward();
  EXPECT_TRUE(input.grad().defined());
  EXPECT_FALSE(rois.grad().defined());
}

TEST(RoiAlign, KernelMatchesReferencePath) {
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    const double tol = dtype == torch::kFloat64 ? 1e-12 : 2e-5;
    auto input = ra_random_input({2, 4, 9, 11}, 6, dtype);
    auto rois = torch::cat({ra_random_rois(12, 2, 14, 7, dtype), ra_hand_rois().to(dtype)});
    auto weights = ra_random_input({rois.size(0), 4, 3, 4}, 8, dtype);
    for (bool aligned : {false, true}) {
      auto a = input.clone().requires_grad_(), b = input.clone().requires_grad_();
      auto kernel = roi_align(a, rois, {3, 4}, 0.8, 2, aligned);
      auto reference = roi_align_reference(b, rois, {3, 4}, 0.8, 2, aligned);
      ASSERT_EQ(kernel.sizes(), reference.sizes());
      EXPECT_TRUE(torch::allclose(kernel, reference, tol, tol)) << (kernel - reference).abs().max();
      (kernel * weights).sum().backward();
      (reference * weights).sum().backward();
      EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), tol, tol)) << (a.grad() - b.grad()).abs().max();
      EXPECT_GT(a.grad().abs().sum().item<double>(), 0.0);
    }
  }
  // and the reference against the definition directly
  auto input = ra_random_input({2, 3, 6, 8}, 9);
  EXPECT_TRUE(torch::allclose(roi_align_reference(input, ra_hand_rois(), {2, 3}, 1.0, 2, true),
                              ra_by_definition(input, ra_hand_rois(), 2, 3, 1.0, 2, true), 0, 1e-12));
}

TEST(RoiAlign, ChannelsLastMatchesContiguous) {
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    auto input = ra_random_input({2, 5, 7, 9}, 10, dtype);
    auto rois = torch::cat({ra_random_rois(10, 2, 11, 11, dtype), ra_hand_rois().to(dtype)});
    auto weights = ra_random_input({rois.size(0), 5, 3, 3}, 12, dtype);
    for (int64_t sr : {2, -1}) {
      auto a = input.clone().requires_grad_();
      auto b = input.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
      ASSERT_FALSE(b.is_contiguous());
      auto plain = roi_align(a, rois, {3, 3}, 0.5, sr, true);
      auto nhwc = roi_align(b, rois, {3, 3}, 0.5, sr, true);
      EXPECT_TRUE(nhwc.is_contiguous(at::MemoryFormat::ChannelsLast));
      // the same terms summed in the same order
      EXPECT_TRUE(torch::equal(plain, nhwc)) << (plain - nhwc).abs().max();
      (plain * weights).sum().backward();
      (nhwc * weights).sum().backward();
      EXPECT_TRUE(b.grad().is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(torch::equal(a.grad(), b.grad())) << (a.grad() - b.grad()).abs().max();
    }
  }
  // a non-contiguous input of neither layout
  auto input = ra_random_input({2, 3, 6, 8}, 13);
  auto strided = torch::cat({input, input}, 3).slice(3, 0, 16, 2);
  ASSERT_FALSE(strided.is_contiguous());
  EXPECT_TRUE(torch::allclose(roi_align(strided, ra_hand_rois(), {2, 2}, 1.0, 2, false),
                              ra_by_definition(strided, ra_hand_rois(), 2, 2, 1.0, 2, false), 0, 1e-12));
}

TEST(RoiAlign, BackwardIsTheSameOnOneThreadAndMany) {
  auto input = ra_random_input({2, 6, 8, 8}, 14);
  auto rois = ra_random_rois(30, 2, 10, 15);
  auto weights = ra_random_input({30, 6, 4, 4}, 16);
  auto grad_with = [&](int threads) {
    const int before = at::get_num_threads();
    at::set_num_threads(threads);
    auto x = input.clone().requires_grad_();
    (roi_align(x, rois, {4, 4}, 1.0, 2, false) * weights).sum().backward();
    at::set_num_threads(before);
    return x.grad();
  };
  EXPECT_TRUE(torch::equal(grad_with(1), grad_with(4)));
}

TEST(RoiAlign, ErrorsNameTheArgument) {
  auto input = ra_random_input({1, 2, 5, 5}, 17);
  try {
    roi_align_reference(input, ra_rois({0, 0, 0, 2, 2}), {2, 2}, 1.0, 0, false);
    FAIL() << "sampling_ratio 0 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sampling_ratio"), std::string::npos) << e.what();
  }
  EXPECT_THROW(roi_align(input, ra_rois({1, 0, 0, 2, 2}), {2, 2}, 1.0, 2, false), c10::Error);  // batch index
  EXPECT_THROW(roi_align(input, torch::zeros({3, 4}, torch::kFloat64), {2, 2}, 1.0, 2, false), c10::Error);
}

TEST(RoiAlign, CudaRunsTheReferencePath) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto input = ra_random_input({2, 4, 9, 11}, 18, torch::kFloat32);
  auto rois = torch::cat({ra_random_rois(12, 2, 14, 19, torch::kFloat32), ra_hand_rois().to(torch::kFloat32)});
  auto weights = ra_random_input({rois.size(0), 4, 3, 4}, 20, torch::kFloat32);
  auto a = input.clone().requires_grad_();
  auto b = input.cuda().requires_grad_();
  auto cpu = roi_align(a, rois, {3, 4}, 0.8, 2, true);
  auto gpu = roi_align(b, rois.cuda(), {3, 4}, 0.8, 2, true);
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(cpu, gpu.cpu(), 1e-5, 1e-5)) << (cpu - gpu.cpu()).abs().max();
  (cpu * weights).sum().backward();
  (gpu * weights.cuda()).sum().backward();
  EXPECT_TRUE(torch::allclose(a.grad(), b.grad().cpu(), 1e-5, 1e-5));
  EXPECT_THROW(roi_align(b, rois.cuda(), {3, 4}, 0.8, -1, true), c10::Error);
}
