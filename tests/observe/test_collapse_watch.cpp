// The σ-collapse warning: when it fires (a share of filters below the threshold, doubling after;
// the smallest σ halving within an epoch below the threshold) and what its line says.
#include <gtest/gtest.h>

#include "eshift/observe/collapse_watch.h"

using namespace eshift;

namespace {
// `below` of 100 filters in two layers under the threshold, the smallest σ `sigma_min`
SigmaCensus census(int64_t below, double sigma_min) {
  SigmaCensus c;
  c.layers = {{"layer1.conv", 40, std::min<int64_t>(below, 40)}, {"layer2.conv", 60, std::max<int64_t>(below - 40, 0)}};
  c.filters = 100;
  c.below = below;
  c.sigma_min = sigma_min;
  return c;
}
}  // namespace

TEST(CollapseWatch, ShareWarnsOnceThenOnEachDoubling) {
  CollapseWatch watch(0.02, 0.05, /*el2=*/false);
  EXPECT_FALSE(watch.check(census(4, 0.01), 10, 1, false));  // 4 % < 5 %
  const auto first = watch.check(census(5, 0.01), 20, 1, false);
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("σ collapse (epoch 1, step 20): 5.0% of the normalized filters (5 of 100) have σ below 0.02"),
            std::string::npos) << *first;
  EXPECT_NE(first->find("layer1.conv 5/40"), std::string::npos) << *first;
  EXPECT_NE(first->find("--el2 --mineps 0.02"), std::string::npos) << *first;
  EXPECT_FALSE(watch.check(census(9, 0.01), 30, 1, false));  // not yet twice 5 %
  const auto second = watch.check(census(50, 0.005), 40, 2, false);
  ASSERT_TRUE(second);
  // the most affected layer first: layer1 40/40, then layer2 10/60
  EXPECT_NE(second->find("layer1.conv 40/40, layer2.conv 10/60"), std::string::npos) << *second;
  EXPECT_FALSE(watch.check(census(90, 0.004), 50, 2, false));  // 90 % < 2 × 50 %
}

TEST(CollapseWatch, ASmallestSigmaHalvingInAnEpochBelowTheThresholdWarns) {
  CollapseWatch watch(0.01, 0.5, /*el2=*/false);
  EXPECT_FALSE(watch.check(census(0, 0.05), 100, 1, true));
  EXPECT_FALSE(watch.check(census(0, 0.02), 200, 2, true));   // halved, but above the threshold
  EXPECT_FALSE(watch.check(census(1, 0.009), 250, 3, false));  // between epoch ends: compared only at them
  const auto w = watch.check(census(1, 0.009), 300, 3, true);  // 0.02 → 0.009, below 0.01
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("the smallest filter σ fell from 0.02 to 0.009 in an epoch, below 0.01"), std::string::npos) << *w;
  EXPECT_FALSE(watch.check(census(1, 0.006), 400, 4, true));  // not half of 0.009
  EXPECT_TRUE(watch.check(census(1, 0.0045), 500, 5, true));  // half of 0.009
}

TEST(CollapseWatch, HealthyRunsAndTheEpsShiftDoNotWarnAndTheAdviceFitsTheRun) {
  CollapseWatch healthy(0.001, 0.05, false);
  for (int e = 1; e <= 10; ++e) EXPECT_FALSE(healthy.check(census(0, 0.05 / e), 10 * e, e, true)) << e;
  CollapseWatch off(0.02, 0, false);
  EXPECT_FALSE(off.check(census(100, 1e-5), 10, 1, true));
  CollapseWatch shifted(0.02, 0.05, /*el2=*/true);
  const auto w = shifted.check(census(20, 0.01), 10, 1, false);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("a larger --mineps (now 0.02)"), std::string::npos) << *w;
  EXPECT_THROW(CollapseWatch(0, 0.05, false), std::invalid_argument);
  EXPECT_THROW(CollapseWatch(0.01, 1.5, false), std::invalid_argument);
}
