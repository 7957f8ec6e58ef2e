// The data-parallel shards (data/sampler.h) against PyTorch's DistributedSampler semantics, and the
// loader's shards against a single process's batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "eshift/data/batch_loader.h"
#include "eshift/data/image_set.h"
#include "eshift/data/sampler.h"

using namespace eshift;

TEST(Sampler, MatchesDistributedSamplersPaddingAndStride) {
  // DistributedSampler(n=10, num_replicas=3): indices + indices[:2], then indices[rank:12:3]
  EXPECT_EQ(shard_positions(10, 0, 3), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(shard_positions(10, 1, 3), (std::vector<int64_t>{1, 4, 7, 0}));
  EXPECT_EQ(shard_positions(10, 2, 3), (std::vector<int64_t>{2, 5, 8, 1}));
  // fewer examples than ranks: the padding wraps around more than once, as PyTorch's does
  EXPECT_EQ(shard_positions(2, 4, 5), (std::vector<int64_t>{0}));
  // evaluation: no padding
  EXPECT_EQ(shard_positions(10, 2, 3, false), (std::vector<int64_t>{2, 5, 8}));
}

TEST(Sampler, ShardsAreEqualDisjointAndCoverEveryEpoch) {
  for (int world = 1; world <= 5; ++world)
    for (int64_t n : {1, 2, 7, 10, 11, 64, 97, 100}) {
      const int64_t share = (n + world - 1) / world;
      std::vector<int64_t> all;
      for (int rank = 0; rank < world; ++rank) {
        const auto s = shard_positions(n, rank, world);
        EXPECT_EQ(static_cast<int64_t>(s.size()), share) << "n " << n << " world " << world;
        all.insert(all.end(), s.begin(), s.end());
      }
      // every position at least once; the repeats are exactly the padding
      EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), static_cast<size_t>(n)) << n << " " << world;
      EXPECT_EQ(static_cast<int64_t>(all.size()) - n, share * world - n);
      // unpadded (evaluation) shards partition the positions exactly
      std::vector<int64_t> exact;
      for (int rank = 0; rank < world; ++rank) {
        const auto s = shard_positions(n, rank, world, false);
        exact.insert(exact.end(), s.begin(), s.end());
      }
      std::sort(exact.begin(), exact.end());
      std::vector<int64_t> expected(n);
      std::iota(expected.begin(), expected.end(), 0);
      EXPECT_EQ(exact, expected);
    }
  EXPECT_THROW(shard_positions(10, 3, 3), std::invalid_argument);
  EXPECT_THROW(shard_positions(10, 0, 0), std::invalid_argument);
}

TEST(Sampler, RanksTogetherSeeTheSingleProcessBatchWithTheSameAugmentation) {
  // 24 distinct 1×6×6 images, batch 8 globally: each of 2 ranks takes 4 per step
  auto pixels = torch::randint(0, 256, {24, 1, 6, 6}, torch::kUInt8);
  auto labels = torch::arange(24, torch::kInt64);
  auto set = std::make_shared<ImageSetDataset>(ImageSet{pixels, labels, 24});
  const PadCropFlip transform(2, true, {0.5}, {0.25});
  LoaderOptions single;
  single.batch_size = 8;
  single.seed = 9;
  single.workers = 1;
  BatchLoader one(set, transform, single, 3);
  LoaderOptions half = single;
  half.batch_size = 4;
  half.world_size = 2;
  half.rank = 0;
  BatchLoader r0(set, transform, half, 3);
  half.rank = 1;
  BatchLoader r1(set, transform, half, 3);
  ASSERT_EQ(r0.num_batches(), one.num_batches());
  for (int64_t step = 0; step < one.num_batches(); ++step) {
    const auto whole = *one.next();
    const auto a = *r0.next(), b = *r1.next();
    // rank r holds positions r, r+2, …: interleaving the two gives the single process's batch
    auto interleaved = torch::stack({a.inputs, b.inputs}, 1).reshape_as(whole.inputs);
    auto interleaved_labels = torch::stack({a.targets, b.targets}, 1).reshape(-1);
    EXPECT_TRUE(torch::equal(interleaved, whole.inputs)) << "step " << step;
    EXPECT_TRUE(torch::equal(interleaved_labels, whole.targets)) << "step " << step;
  }
}
