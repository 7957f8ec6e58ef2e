// NMS (ops/nms.h) against the greedy definition written out here: visit by decreasing score (ties
// by index), keep a box unless a kept box overlaps it with IoU > threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <torch/torch.h>
#include <vector>

#include "eshift/ops/nms.h"

using namespace eshift;

namespace {

// The greedy definition in the dtype T of the boxes (so float32 rounds as the kernel does).
template <typename T>
std::vector<int64_t> nms_by_definition(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, double thr) {
  auto boxes = boxes_in.contiguous();
  auto scores = scores_in.to(torch::kFloat64).contiguous();
  const T* b = boxes.data_ptr<T>();
  const double* s = scores.data_ptr<double>();
  const int64_t n = boxes.size(0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[i] > s[j]; });
  auto iou = [&](int64_t i, int64_t j) {
    const T* p = b + 4 * i;
    const T* q = b + 4 * j;
    T iw = std::min(p[2], q[2]) - std::max(p[0], q[0]);
    T ih = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    if (iw < 0) iw = 0;
    if (ih < 0) ih = 0;
    const T inter = iw * ih;
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
  };
  std::vector<int64_t> kept;
  for (int64_t i : order) {
    bool keep = true;
    for (int64_t k : kept)
      if (iou(k, i) > thr) keep = false;
    if (keep) kept.push_back(i);
  }
  return kept;
}

std::vector<int64_t> nms_as_vector(const torch::Tensor& t) {
  EXPECT_EQ(t.scalar_type(), torch::kLong);
  auto c = t.cpu().contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Clustered boxes, so that many pairs overlap around the usual thresholds.
torch::Tensor nms_random_boxes(int64_t n, torch::ScalarType dtype, at::Generator& gen) {
  auto centers = torch::randint(0, 4, {n, 2}, gen, torch::kFloat64) * 15 + torch::rand({n, 2}, gen, torch::kFloat64) * 6;
  auto half = torch::rand({n, 2}, gen, torch::kFloat64) * 8 + 2;
  return torch::cat({centers - half, centers + half}, 1).clamp_min(0).to(dtype);
}

torch::Tensor nms_boxes(std::vector<double> v) {
  return torch::tensor(v, torch::kFloat64).view({-1, 4});
}

}  // namespace

TEST(Nms, MatchesGreedyDefinitionOnRandomBoxes) {
  auto gen = at::detail::createCPUGenerator(7);
  for (auto dtype : {torch::kFloat64, torch::kFloat32})
    for (double thr : {0.3, 0.5, 0.7})
      for (int trial = 0; trial < 3; ++trial) {
        auto boxes = nms_random_boxes(150, dtype, gen);
        auto scores = torch::rand({150}, gen, dtype);
        auto got = nms_as_vector(nms(boxes, scores, thr));
        auto want = dtype == torch::kFloat64 ? nms_by_definition<double>(boxes, scores, thr)
                                             : nms_by_definition<float>(boxes, scores, thr);
        EXPECT_EQ(got, want) << "threshold " << thr << " dtype " << dtype;
        EXPECT_LT(got.size(), 150u);  // something was suppressed
        EXPECT_GT(got.size(), 1u);
      }
}

TEST(Nms, IouExactlyAtThresholdIsNotSuppressed) {
  // [0,0,4,1] and [0,0,2,1]: inter 2, union 4, IoU exactly 0.5
  auto boxes = nms_boxes({0, 0, 4, 1, 0, 0, 2, 1});
  auto scores = torch::tensor({0.9, 0.8}, torch::kFloat64);
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.5)), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.4999)), (std::vector<int64_t>{0}));
  EXPECT_EQ(nms_as_vector(nms(boxes.to(torch::kFloat), scores.to(torch::kFloat), 0.5)), (std::vector<int64_t>{0, 1}));
  // the threshold is a double, as torchvision's: [0,0,10,1] and [0,0,1,1] have IoU 1/10, which
  // rounds to 0.1f = 0.100000001… in float32, above the double 0.1 (suppressed), and is exactly the
  // double 0.1 in float64 (kept). Comparing in float32 against 0.1f would keep both.
  auto tenth = nms_boxes({0, 0, 10, 1, 0, 0, 1, 1});
  EXPECT_EQ(nms_as_vector(nms(tenth.to(torch::kFloat), scores.to(torch::kFloat), 0.1)), (std::vector<int64_t>{0}));
  EXPECT_EQ(nms_as_vector(nms(tenth, scores, 0.1)), (std::vector<int64_t>{0, 1}));
  // boxes sharing only an edge have IoU 0: kept even at threshold 0
  auto touching = nms_boxes({0, 0, 1, 1, 1, 0, 2, 1});
  EXPECT_EQ(nms_as_vector(nms(touching, scores, 0.0)), (std::vector<int64_t>{0, 1}));
}

TEST(Nms, ResultIsSortedByDecreasingScore) {
  auto boxes = nms_boxes({0, 0, 1, 1, 10, 10, 11, 11, 20, 20, 21, 21, 30, 30, 31, 31});
  auto scores = torch::tensor({0.2, 0.9, 0.5, 0.7}, torch::kFloat64);
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.5)), (std::vector<int64_t>{1, 3, 2, 0}));
}

TEST(Nms, TiedScoresAreVisitedInIndexOrder) {
  // identical boxes, equal scores: the lower index survives
  auto twins = nms_boxes({5, 5, 9, 9, 5, 5, 9, 9});
  auto tied = torch::tensor({0.5, 0.5}, torch::kFloat64);
  EXPECT_EQ(nms_as_vector(nms(twins, tied, 0.5)), (std::vector<int64_t>{0}));
  // more than 16 tied boxes (where an unstable sort would scramble them): a chain in which box i
  // overlaps i+1 with IoU 1/3; in index order the even ones survive
  std::vector<double> chain;
  for (int i = 0; i < 40; ++i) chain.insert(chain.end(), {double(i), 0, double(i + 2), 1});
  auto boxes = nms_boxes(chain);
  auto scores = torch::full({40}, 0.25, torch::kFloat64);
  std::vector<int64_t> evens;
  for (int i = 0; i < 40; i += 2) evens.push_back(i);
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.3)), evens);
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.3)), nms_by_definition<double>(boxes, scores, 0.3));
}

TEST(Nms, EmptyInputGivesEmptyInt64) {
  auto keep = nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5);
  EXPECT_EQ(keep.numel(), 0);
  EXPECT_EQ(keep.scalar_type(), torch::kLong);
  auto bkeep = batched_nms(torch::zeros({0, 4}), torch::zeros({0}), torch::zeros({0}, torch::kLong), 0.5);
  EXPECT_EQ(bkeep.numel(), 0);
  EXPECT_EQ(bkeep.scalar_type(), torch::kLong);
}

TEST(Nms, BatchedNeverSuppressesAcrossCategories) {
  // the same box three times: categories 0, 1, 0 → the category-0 copy with the lower score goes
  auto boxes = nms_boxes({1, 1, 5, 5, 1, 1, 5, 5, 1, 1, 5, 5});
  auto scores = torch::tensor({0.9, 0.8, 0.7}, torch::kFloat64);
  auto idxs = torch::tensor({0, 1, 0}, torch::kLong);
  EXPECT_EQ(nms_as_vector(batched_nms(boxes, scores, idxs, 0.5)), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(nms_as_vector(nms(boxes, scores, 0.5)), (std::vector<int64_t>{0}));
}

TEST(Nms, BatchedEqualsPerCategoryDefinition) {
  auto gen = at::detail::createCPUGenerator(11);
  // 200 boxes: the coordinate trick; 1500 (more than kBatchedNmsTrickMaxNumel / 4): one NMS a category
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t n = trial < 2 ? 200 : 1500;
    ASSERT_EQ(4 * n > kBatchedNmsTrickMaxNumel, trial >= 2);
    auto boxes = nms_random_boxes(n, torch::kFloat64, gen);
    auto scores = torch::rand({n}, gen, torch::kFloat64);
    auto idxs = torch::randint(0, 5, {n}, gen, torch::kLong);
    auto got = nms_as_vector(batched_nms(boxes, scores, idxs, 0.5));
    // per category, then all kept boxes by decreasing score
    std::vector<int64_t> want;
    for (int64_t cls = 0; cls < 5; ++cls) {
      auto members = idxs.eq(cls).nonzero().select(1, 0);
      for (int64_t local : nms_by_definition<double>(boxes.index_select(0, members), scores.index_select(0, members), 0.5))
        want.push_back(members[local].item<int64_t>());
    }
    auto s = scores.contiguous();
    std::stable_sort(want.begin(), want.end(), [&](int64_t i, int64_t j) {
      return s[i].item<double>() > s[j].item<double>();
    });
    EXPECT_EQ(got, want);
    // and plain NMS over all of them suppresses more: categories were kept apart
    EXPECT_LT(nms_as_vector(nms(boxes, scores, 0.5)).size(), got.size());
  }
}

TEST(Nms, OtherDevicesReturnIndicesThere) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto gen = at::detail::createCPUGenerator(5);
  auto boxes = nms_random_boxes(300, torch::kFloat32, gen);
  auto scores = torch::rand({300}, gen, torch::kFloat32);
  auto idxs = torch::randint(0, 3, {300}, gen, torch::kLong);
  auto keep = nms(boxes.cuda(), scores.cuda(), 0.5);
  EXPECT_TRUE(keep.is_cuda());
  EXPECT_EQ(nms_as_vector(keep), nms_as_vector(nms(boxes, scores, 0.5)));
  auto bkeep = batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.5);
  EXPECT_TRUE(bkeep.is_cuda());
  EXPECT_EQ(nms_as_vector(bkeep), nms_as_vector(batched_nms(boxes, scores, idxs, 0.5)));
}
