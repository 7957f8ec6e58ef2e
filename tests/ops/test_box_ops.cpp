// Box arithmetic (ops/box_ops.h) against its definition, written out here per pair of boxes.
#include <gtest/gtest.h>

#include <algorithm>
#include <torch/torch.h>

#include "eshift/ops/box_ops.h"

using namespace eshift;

namespace {

double boxops_area(const double* b) { return (b[2] - b[0]) * (b[3] - b[1]); }

double boxops_iou(const double* a, const double* b) {
  const double iw = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double ih = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = iw * ih;
  return inter / (boxops_area(a) + boxops_area(b) - inter);
}

torch::Tensor boxops_random(int64_t n, int64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto xy = torch::rand({n, 2}, gen, torch::kFloat64) * 20;
  auto wh = torch::rand({n, 2}, gen, torch::kFloat64) * 10 + 0.5;
  return torch::cat({xy, xy + wh}, 1);
}

}  // namespace

TEST(BoxOps, AreaIsWidthTimesHeightWithoutPlusOne) {
  auto boxes = torch::tensor({0., 0., 1., 1., 2., 3., 5., 7., 1., 1., 1., 4., 0.5, 0.25, 1.5, 0.75}, torch::kFloat64)
                   .view({4, 4});
  auto area = box_area(boxes);
  ASSERT_EQ(area.sizes(), torch::IntArrayRef({4}));
  EXPECT_DOUBLE_EQ(area[0].item<double>(), 1.0);   // one pixel's square, not 4 ((1+1)·(1+1))
  EXPECT_DOUBLE_EQ(area[1].item<double>(), 12.0);
  EXPECT_DOUBLE_EQ(area[2].item<double>(), 0.0);   // zero width
  EXPECT_DOUBLE_EQ(area[3].item<double>(), 0.5);
  EXPECT_EQ(box_area(torch::zeros({0, 4})).numel(), 0);
  // float16 boxes are computed in float32 (torchvision's _upcast)
  EXPECT_EQ(box_area(boxes.to(torch::kHalf)).scalar_type(), torch::kFloat);
}

TEST(BoxOps, IouMatchesPairwiseDefinition) {
  auto a = boxops_random(7, 1), b = boxops_random(5, 2);
  // hand cases appended to b: a copy of a[0] (IoU 1), a box touching a[0]'s right edge (IoU 0),
  // a box inside a[0] (IoU = its area over a[0]'s)
  auto a0 = a[0];
  auto w = (a0[2] - a0[0]).item<double>(), h = (a0[3] - a0[1]).item<double>();
  auto x1 = a0[0].item<double>(), y1 = a0[1].item<double>();
  auto extra = torch::tensor({x1, y1, x1 + w, y1 + h, x1 + w, y1, x1 + 2 * w, y1 + h, x1 + 0.25 * w, y1 + 0.25 * h,
                              x1 + 0.75 * w, y1 + 0.75 * h},
                             torch::kFloat64)
                   .view({3, 4});
  b = torch::cat({b, extra});
  auto iou = box_iou(a, b);
  ASSERT_EQ(iou.sizes(), torch::IntArrayRef({7, 8}));
  auto ac = a.contiguous(), bc = b.contiguous();
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t j = 0; j < 8; ++j)
      EXPECT_NEAR(iou[i][j].item<double>(), boxops_iou(ac.data_ptr<double>() + 4 * i, bc.data_ptr<double>() + 4 * j),
                  1e-15)
          << i << "," << j;
  EXPECT_NEAR(iou[0][5].item<double>(), 1.0, 1e-15);
  EXPECT_EQ(iou[0][6].item<double>(), 0.0);
  EXPECT_NEAR(iou[0][7].item<double>(), 0.25, 1e-12);
  EXPECT_GT((iou.lt(1e-9)).sum().item<int64_t>(), 0);  // disjoint pairs exist: the clamp at 0 matters
}

TEST(BoxOps, IouOfEmptySetsAndItsGradient) {
  EXPECT_EQ(box_iou(torch::zeros({0, 4}), boxops_random(3, 3).to(torch::kFloat)).sizes(),
            torch::IntArrayRef({0, 3}));
  EXPECT_EQ(box_iou(boxops_random(2, 3), torch::zeros({0, 4}, torch::kFloat64)).sizes(), torch::IntArrayRef({2, 0}));
  // differentiable: a = [x1, 0, x2, 1] against [1, 0, 3, 1] with 0 < x1 < 1 < x2 < 3 has
  // inter = x2 − 1, union = (x2 − x1) + 2 − (x2 − 1) = 3 − x1, so at (x1, x2) = (0, 2):
  // ∂IoU/∂x2 = 1/(3 − x1) = 1/3 and ∂IoU/∂x1 = (x2 − 1)/(3 − x1)² = 1/9
  auto a = torch::tensor({0., 0., 2., 1.}, torch::kFloat64).view({1, 4}).requires_grad_();
  auto b = torch::tensor({1., 0., 3., 1.}, torch::kFloat64).view({1, 4});
  auto iou = box_iou(a, b);
  EXPECT_NEAR(iou.item<double>(), 1.0 / 3.0, 1e-15);
  iou.sum().backward();
  EXPECT_NEAR(a.grad()[0][2].item<double>(), 1.0 / 3.0, 1e-15);
  EXPECT_NEAR(a.grad()[0][0].item<double>(), 1.0 / 9.0, 1e-15);
}

TEST(BoxOps, ClipClampsXToWidthAndYToHeight) {
  auto boxes = torch::tensor({-3., -1., 12., 9., 2., 3., 4., 5., 11., 8., 13., 20.}, torch::kFloat64).view({3, 4});
  const int64_t h = 7, w = 10;
  auto clipped = clip_boxes_to_image(boxes, {h, w});
  ASSERT_EQ(clipped.sizes(), boxes.sizes());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      const double v = boxes[i][j].item<double>(), bound = j % 2 == 0 ? w : h;
      EXPECT_EQ(clipped[i][j].item<double>(), std::min(std::max(v, 0.0), bound)) << i << "," << j;
    }
  // any leading shape: [2, 3, 4]
  auto stacked = torch::stack({boxes, boxes + 1});
  EXPECT_TRUE(torch::equal(clip_boxes_to_image(stacked, {h, w})[1], clip_boxes_to_image(boxes + 1, {h, w})));
  // the gradient passes only through coordinates that were not clamped
  auto x = boxes.clone().requires_grad_();
  clip_boxes_to_image(x, {h, w}).sum().backward();
  auto expected = torch::tensor({0., 0., 0., 0., 1., 1., 1., 1., 0., 0., 0., 0.}, torch::kFloat64).view({3, 4});
  EXPECT_TRUE(torch::equal(x.grad(), expected)) << x.grad();
}

TEST(BoxOps, RemoveSmallBoxesKeepsBothSidesAtLeastMinSize) {
  auto boxes = torch::tensor({0., 0., 2., 2.,     // 2×2: kept at min 2 (sides equal to min_size)
                              0., 0., 1.9, 5.,    // width below
                              0., 0., 5., 1.99,   // height below
                              1., 1., 4., 3.5,    // 3×2.5: kept
                              3., 3., 3., 3.},    // empty
                             torch::kFloat64)
                   .view({5, 4});
  auto keep = remove_small_boxes(boxes, 2.0);
  EXPECT_EQ(keep.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(keep, torch::tensor({0, 3}, torch::kLong))) << keep;
  EXPECT_EQ(remove_small_boxes(boxes, 0.0).numel(), 5);  // ≥ 0 holds for every box, the empty one included
  auto none = remove_small_boxes(torch::zeros({0, 4}), 1.0);
  EXPECT_EQ(none.numel(), 0);
  EXPECT_EQ(none.scalar_type(), torch::kLong);
}
