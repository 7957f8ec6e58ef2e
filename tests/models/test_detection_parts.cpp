// The parts of Mask R-CNN against their definitions (models/detection/*.h), in float64 where they
// compute: the box coder, the matcher and the sampler, the anchors, the masks' projection and
// pasting.
#include <gtest/gtest.h>

#include "eshift/models/detection/anchor_generator.h"
#include "eshift/models/detection/box_coder.h"
#include "eshift/models/detection/mask_ops.h"
#include "eshift/models/detection/proposal_matching.h"

using namespace eshift;

TEST(DetectionBoxCoder, EncodesAndDecodesByTheFormulas) {
  BoxCoder coder;
  coder.weights = {10, 10, 5, 5};
  const auto ref = torch::tensor({{10.0, 20.0, 50.0, 40.0}}, torch::kFloat64);  // w 40, h 20, c (30, 30)
  const auto box = torch::tensor({{14.0, 18.0, 94.0, 38.0}}, torch::kFloat64);  // w 80, h 20, c (54, 28)
  const auto code = coder.encode(box, ref);
  EXPECT_NEAR(code[0][0].item<double>(), 10 * (54.0 - 30.0) / 40.0, 1e-12);
  EXPECT_NEAR(code[0][1].item<double>(), 10 * (28.0 - 30.0) / 20.0, 1e-12);
  EXPECT_NEAR(code[0][2].item<double>(), 5 * std::log(2.0), 1e-12);
  EXPECT_NEAR(code[0][3].item<double>(), 0.0, 1e-12);
  const auto back = coder.decode(code, ref);
  ASSERT_EQ(back.sizes(), (std::vector<int64_t>{1, 1, 4}));
  EXPECT_TRUE(torch::allclose(back[0], box, 0, 1e-10));
}

TEST(DetectionBoxCoder, DecodesOneBoxAClassAndClipsTheGrowth) {
  BoxCoder coder;  // weights 1: clip log(1000/16) applies to dw, dh directly
  const auto ref = torch::tensor({{0.0, 0.0, 10.0, 10.0}}, torch::kFloat64);
  const auto codes = torch::tensor({{0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 100.0, 0.0}}, torch::kFloat64);
  const auto boxes = coder.decode(codes, ref);
  ASSERT_EQ(boxes.sizes(), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_TRUE(torch::allclose(boxes[0][0], ref[0]));
  const double w = 10 * 1000.0 / 16.0, cx = 0.5 * 10 + 5;  // clipped growth, centre moved by ½·w_ref
  EXPECT_NEAR(boxes[0][1][0].item<double>(), cx - w / 2, 1e-9);
  EXPECT_NEAR(boxes[0][1][2].item<double>(), cx + w / 2, 1e-9);
  EXPECT_NEAR(boxes[0][1][1].item<double>(), 0.0, 1e-12);
}

TEST(DetectionMatcher, LabelsByThresholdsAndKeepsEachObjectsBestCandidate) {
  // objects × candidates
  const auto iou = torch::tensor({{0.9, 0.5, 0.1, 0.2, 0.0}, {0.1, 0.2, 0.25, 0.7, 0.0}}, torch::kFloat64);
  Matcher strict{};
  strict.high = 0.7, strict.low = 0.3;
  const auto m = strict(iou);
  EXPECT_EQ(m[0].item<int64_t>(), 0);
  EXPECT_EQ(m[1].item<int64_t>(), Matcher::kBetweenThresholds);
  EXPECT_EQ(m[2].item<int64_t>(), Matcher::kBelowLowThreshold);
  EXPECT_EQ(m[3].item<int64_t>(), 1);  // 0.7 is ≥ high
  EXPECT_EQ(m[4].item<int64_t>(), Matcher::kBelowLowThreshold);
  // object 1's best candidate is 3 (already matched); make its best a low one
  const auto iou2 = torch::tensor({{0.9, 0.5}, {0.1, 0.2}}, torch::kFloat64);
  Matcher lenient = strict;
  lenient.allow_low_quality_matches = true;
  const auto m2 = lenient(iou2);
  EXPECT_EQ(m2[0].item<int64_t>(), 0);
  // candidate 1 is object 1's best (0.2) but its own best object is 0 (0.5): it keeps object 0
  EXPECT_EQ(m2[1].item<int64_t>(), 0);
  EXPECT_EQ(strict(iou2)[1].item<int64_t>(), Matcher::kBetweenThresholds);
}

TEST(DetectionSampler, DrawsAtMostTheFractionOfPositivesAndNeverIgnoredCandidates) {
  torch::manual_seed(3);
  auto labels = torch::zeros({1000}, torch::kLong);
  labels.slice(0, 0, 100).fill_(2);   // 100 positives
  labels.slice(0, 100, 300).fill_(-1);  // 200 ignored
  BalancedSampler sampler{128, 0.25};
  const auto [pos, neg] = sampler(labels);
  EXPECT_EQ(pos.sum().item<int64_t>(), 32);
  EXPECT_EQ(neg.sum().item<int64_t>(), 96);
  EXPECT_TRUE((labels.index({pos}) >= 1).all().item<bool>());
  EXPECT_TRUE((labels.index({neg}) == 0).all().item<bool>());
  // few positives: the negatives fill the batch
  auto few = torch::zeros({500}, torch::kLong);
  few.slice(0, 0, 5).fill_(1);
  const auto [pos2, neg2] = sampler(few);
  EXPECT_EQ(pos2.sum().item<int64_t>(), 5);
  EXPECT_EQ(neg2.sum().item<int64_t>(), 123);
}

TEST(DetectionAnchors, BaseAnchorsAndTheirGridFollowTheFormula) {
  AnchorGenerator anchors({{32}}, {{0.5, 1.0, 2.0}});
  // ratio 0.5: w = 32·√2 = 45.25, h = 32/√2 = 22.63 → ±22.63, ±11.31 → rounded 23, 11
  const auto base = anchors.base_anchors(0);
  const auto expected = torch::tensor({{-23.f, -11.f, 23.f, 11.f}, {-16.f, -16.f, 16.f, 16.f}, {-11.f, -23.f, 11.f, 23.f}});
  EXPECT_TRUE(torch::equal(base, expected)) << base;
  // a 2×3 map of a 64×96 batch: stride 32; cell (1, 2), ratio 1 is anchor (1·3 + 2)·3 + 1
  const auto all = anchors({64, 96}, {torch::zeros({1, 8, 2, 3})});
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{18, 4}));
  EXPECT_TRUE(torch::equal(all[16], torch::tensor({64.f - 16, 32.f - 16, 64.f + 16, 32.f + 16})));
  EXPECT_THROW(AnchorGenerator({{32}}, {}), std::invalid_argument);
  EXPECT_THROW(AnchorGenerator({{-1}}, {{1.0}}), std::invalid_argument);
}

TEST(DetectionMasks, ProjectionOfAMaskOnItsOwnBoxIsFullInside) {
  auto mask = torch::zeros({1, 40, 40}, torch::kUInt8);
  mask[0].slice(0, 10, 30).slice(1, 5, 25).fill_(1);  // rows 10..29, cols 5..24
  const auto boxes = torch::tensor({{5.0, 10.0, 25.0, 30.0}, {0.0, 0.0, 40.0, 40.0}}, torch::kFloat64);
  const auto target = project_masks_on_boxes(mask, boxes, torch::tensor({0, 0}), 28);
  ASSERT_EQ(target.sizes(), (std::vector<int64_t>{2, 28, 28}));
  // the box of the mask: every sample inside it but the last row/column (bilinear with outside)
  EXPECT_NEAR(target[0].slice(0, 1, 26).slice(1, 1, 26).min().item<double>(), 1.0, 1e-12);
  // the whole image: the mask covers 20·20 of 40·40 pixels
  EXPECT_NEAR(target[1].mean().item<double>(), 0.25, 0.03);
}

TEST(DetectionMasks, PastingPutsTheGridUnderItsBoxOnly) {
  const auto probabilities = torch::ones({1, 28, 28}, torch::kFloat64);
  const auto boxes = torch::tensor({{10.0, 12.0, 30.0, 24.0}}, torch::kFloat64);
  const auto pasted = paste_masks_in_image(probabilities, boxes, {40, 50});
  ASSERT_EQ(pasted.sizes(), (std::vector<int64_t>{1, 40, 50}));
  const auto inside = pasted[0] > 0.5;
  // the > 0.5 region is the box, give or take a pixel at each edge
  const auto rows = torch::nonzero(inside.any(1)).select(1, 0), cols = torch::nonzero(inside.any(0)).select(1, 0);
  EXPECT_NEAR(rows.min().item<int64_t>(), 12, 1);
  EXPECT_NEAR(rows.max().item<int64_t>(), 24, 1);
  EXPECT_NEAR(cols.min().item<int64_t>(), 10, 1);
  EXPECT_NEAR(cols.max().item<int64_t>(), 30, 1);
  EXPECT_EQ(pasted[0].slice(0, 0, 10).sum().item<double>(), 0.0);
  // a box past the image's corner is clipped, not an error
  const auto corner = paste_masks_in_image(probabilities, torch::tensor({{40.0, 30.0, 60.0, 50.0}}, torch::kFloat64), {40, 50});
  EXPECT_GT(corner[0].slice(0, 32).slice(1, 42).min().item<double>(), 0.5);
  EXPECT_EQ(paste_masks_in_image(torch::zeros({0, 28, 28}), torch::zeros({0, 4}), {5, 6}).sizes(),
            (std::vector<int64_t>{0, 5, 6}));
}
