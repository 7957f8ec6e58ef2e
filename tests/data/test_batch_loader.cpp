// The batch loader over an in-memory dataset with the pad-crop-flip transform: coverage,
// normalization, augmentation and determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "eshift/core/errors.h"
#include "eshift/data/batch_loader.h"
#include "eshift/data/image_set.h"

using namespace eshift;

namespace {
// N distinct 2-channel 5×6 images; image k is filled with values derived from k.
ImageSet make_set(int64_t n) {
  ImageSet s;
  s.images = torch::arange(n * 2 * 5 * 6, torch::kInt64).remainder(251).to(torch::kUInt8).view({n, 2, 5, 6});
  s.labels = torch::arange(n, torch::kInt64);  // label = index, to identify examples
  s.num_classes = n;
  return s;
}

// The transform's settings, as the old LoaderOptions held them.
struct Augment {
  int crop_padding = 0;
  bool hflip = false;
  std::vector<double> mean{0.0}, std{1.0};
};

std::vector<Batch> all_batches(const ImageSet& set, const LoaderOptions& o, const Augment& a, int epoch) {
  BatchLoader loader(std::make_shared<ImageSetDataset>(set), PadCropFlip(a.crop_padding, a.hflip, a.mean, a.std), o, epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(*b);
  EXPECT_EQ(int64_t(out.size()), loader.num_batches());
  return out;
}
}  // namespace

TEST(BatchLoader, CoversEveryExampleOnceAndNormalizes) {
  auto set = make_set(23);
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 7;
  Augment a;
  a.mean = {0.5, 0.25};
  a.std = {0.2, 0.4};
  auto batches = all_batches(set, o, a, 0);
  ASSERT_EQ(batches.size(), 5u);  // 4 full + 1 partial
  EXPECT_EQ(batches.back().targets.size(0), 3);
  std::set<int64_t> seen;
  for (const auto& b : batches)
    for (int64_t i = 0; i < b.targets.size(0); ++i) {
      const int64_t k = b.targets[i].item<int64_t>();
      seen.insert(k);
      auto raw = set.images[k].to(torch::kFloat32) / 255.0;
      auto expected = torch::stack({(raw[0] - 0.5) / 0.2, (raw[1] - 0.25) / 0.4});
      EXPECT_LT((b.inputs[i] - expected).abs().max().item<float>(), 1e-5);
    }
  EXPECT_EQ(seen.size(), 23u);
  o.drop_last = true;
  EXPECT_EQ(all_batches(set, o, a, 0).size(), 4u);
}

TEST(BatchLoader, SameSeedAndEpochGiveSameBatches) {
  auto set = make_set(40);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 3;
  Augment aug;
  aug.crop_padding = 2;
  aug.hflip = true;
  auto a = all_batches(set, o, aug, 1), b = all_batches(set, o, aug, 1), c = all_batches(set, o, aug, 2);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].inputs, b[i].inputs));
    EXPECT_TRUE(torch::equal(a[i].targets, b[i].targets));
  }
  EXPECT_FALSE(torch::equal(a[0].targets, c[0].targets));  // another epoch, another order
}

TEST(BatchLoader, FlipAndCropMoveWholeImages) {
  auto set = make_set(64);
  LoaderOptions o;
  o.batch_size = 64;
  o.shuffle = false;
  o.seed = 1;
  Augment a;
  a.hflip = true;
  auto flipped = all_batches(set, o, a, 0)[0];
  int flips = 0;
  for (int64_t i = 0; i < 64; ++i) {
    auto raw = set.images[i].to(torch::kFloat32);
    auto img = flipped.inputs[i] * 255.0;
    const bool same = (img - raw).abs().max().item<float>() < 1e-3;
    const bool mirrored = (img - raw.flip({2})).abs().max().item<float>() < 1e-3;
    EXPECT_TRUE(same || mirrored) << i;
    flips += mirrored && !same;
  }
  EXPECT_GT(flips, 10);
  EXPECT_LT(flips, 54);

  a.hflip = false;
  a.crop_padding = 1;
  auto cropped = all_batches(set, o, a, 0)[0];
  for (int64_t i = 0; i < 64; ++i) {
    // the crop equals the zero-padded image shifted by some (dy, dx) in [−1, 1]²
    auto padded = torch::constant_pad_nd(set.images[i].to(torch::kFloat32), {1, 1, 1, 1}, 0);
    auto img = cropped.inputs[i] * 255.0;
    bool found = false;
    for (int dy = 0; dy <= 2 && !found; ++dy)
      for (int dx = 0; dx <= 2 && !found; ++dx)
        found = (padded.narrow(1, dy, 5).narrow(2, dx, 6) - img).abs().max().item<float>() < 1e-3;
    EXPECT_TRUE(found) << i;
  }
}

TEST(BatchLoader, ChannelStatsAreMeanAndStdInUnitRange) {
  ImageSet s;
  s.images = torch::tensor({0, 255, 0, 255}, torch::kUInt8).view({2, 1, 1, 2});
  s.labels = torch::zeros({2}, torch::kInt64);
  auto [mean, std] = channel_stats(s);
  ASSERT_EQ(mean.size(), 1u);
  EXPECT_DOUBLE_EQ(mean[0], 0.5);
  EXPECT_DOUBLE_EQ(std[0], 0.5);
}

TEST(BatchLoader, TheOrderIsAFunctionOfSeedAndEpochOnly) {
  // the documented contract: a shuffle of 0..N-1 by mt19937_64(seed·0x9E3779B97F4A7C15 + epoch + 1)
  auto set = make_set(30);
  LoaderOptions o;
  o.batch_size = 30;
  o.seed = 5;
  std::vector<int64_t> expected(30);
  std::iota(expected.begin(), expected.end(), 0);
  std::mt19937_64 rng(5 * 0x9E3779B97F4A7C15ULL + 3 + 1);
  std::shuffle(expected.begin(), expected.end(), rng);
  const auto batch = all_batches(set, o, Augment{}, 3)[0];
  for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(batch.targets[i].item<int64_t>(), expected[i]) << i;
}

TEST(BatchLoader, MoreWorkersPrepareTheSameBatches) {
  auto set = make_set(50);
  LoaderOptions o;
  o.batch_size = 7;
  o.seed = 9;
  Augment a;
  a.crop_padding = 1;
  a.hflip = true;
  const auto one = all_batches(set, o, a, 2);
  o.workers = 3;
  const auto three = all_batches(set, o, a, 2);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(torch::equal(one[i].inputs, three[i].inputs)) << i;
    EXPECT_TRUE(torch::equal(one[i].targets, three[i].targets)) << i;
  }
  o.workers = 0;
  EXPECT_THROW(all_batches(set, o, a, 2), c10::Error);
}

TEST(BatchLoader, AnEpochIsTheShuffleThenCropsThenFlipsOfOneGenerator) {
  // the whole stream, as eshift has drawn it since its first version: a run resumed or repeated
  // with the same seed sees the same batches
  auto set = make_set(12);
  LoaderOptions o;
  o.batch_size = 12;
  o.seed = 2;
  Augment a;
  a.crop_padding = 1;
  a.hflip = true;
  const auto batch = all_batches(set, o, a, 4)[0];
  std::mt19937_64 rng(2 * 0x9E3779B97F4A7C15ULL + 4 + 1);
  std::vector<int64_t> order(12);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::uniform_int_distribution<int> offset(0, 2);
  std::vector<int> dy(12), dx(12);
  for (int i = 0; i < 12; ++i) {
    dy[i] = offset(rng);
    dx[i] = offset(rng);
  }
  std::bernoulli_distribution coin(0.5);
  std::vector<bool> flip(12);
  for (int i = 0; i < 12; ++i) flip[i] = coin(rng);
  for (int i = 0; i < 12; ++i) {
    auto padded = torch::constant_pad_nd(set.images[order[i]].to(torch::kFloat32), {1, 1, 1, 1}, 0);
    auto expected = padded.narrow(1, dy[i], 5).narrow(2, dx[i], 6);
    if (flip[i]) expected = expected.flip({2});
    EXPECT_LT((batch.inputs[i] * 255.0 - expected).abs().max().item<float>(), 1e-3) << i;
  }
}

namespace {
// A dataset whose example 5 cannot be read, as a damaged file would be.
class DamagedDataset : public ImageSetDataset {
 public:
  using ImageSetDataset::ImageSetDataset;
  Example get(int64_t index) const override {
    if (index == 5) throw DataError("example 5: damaged");
    return ImageSetDataset::get(index);
  }
};
}  // namespace

TEST(BatchLoader, AWorkersErrorReachesTheCallerAndTheLoaderShutsDownCleanly) {
  for (int workers : {1, 3}) {
    LoaderOptions o;
    o.batch_size = 4;
    o.shuffle = false;
    o.workers = workers;
    int batches = 0;
    try {
      BatchLoader loader(std::make_shared<DamagedDataset>(make_set(20)), PadCropFlip(0, false, {0.0}, {1.0}), o, 0);
      while (loader.next()) ++batches;
      ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
      EXPECT_STREQ(e.what(), "example 5: damaged");
    }
    EXPECT_EQ(batches, 1) << workers;  // batch 0 came through, batch 1 holds example 5
  }
}
