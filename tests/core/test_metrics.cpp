// Named metrics: their printed form (the progress bar and the epoch summary depend on it, to the
// character) and the running sums behind the epoch means.
#include <gtest/gtest.h>

#include <stdexcept>

#include "eshift/core/metrics.h"

using namespace eshift;

namespace {
const std::vector<MetricInfo> kInfos = {{"loss", "loss", false}, {"acc", "accuracy", true}};
}

TEST(Metrics, FormatPrintsLossWithFourDecimalsAndFractionsAsPercent) {
  Metrics m;
  m.add(kInfos[0], 0.28214);
  m.add(kInfos[1], 0.8962);
  EXPECT_EQ(m.format(), "loss 0.2821 acc 89.62%");
  Metrics low;
  low.add(kInfos[0], 2.0968);
  low.add(kInfos[1], 0.095);
  EXPECT_EQ(low.format(), "loss 2.0968 acc 9.50%");
  EXPECT_EQ(low.format(/*aligned=*/true), "loss 2.0968 acc  9.50%");  // fixed width for redrawn lines
}

TEST(Metrics, AtFindsByKeyAndNamesAMissingOne) {
  Metrics m;
  m.add(kInfos[1], 0.5);
  EXPECT_DOUBLE_EQ(m.at("acc"), 0.5);
  try {
    m.at("top5");
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("top5"), std::string::npos);
  }
}

TEST(MetricSums, MeansAreSumsOverExamplesInTheTasksOrder) {
  MetricSums sums(kInfos);
  sums.add("loss", 0.5 * 4);  // a batch of 4 with mean loss 0.5, 3 correct
  sums.add("acc", 3);
  sums.count(4);
  sums.add("loss", 1.0 * 2);  // a batch of 2 with mean loss 1, 0 correct
  sums.add("acc", 0);
  sums.count(2);
  const auto m = sums.means();
  ASSERT_EQ(m.values().size(), 2u);
  EXPECT_EQ(m.values()[0].info.key, "loss");
  EXPECT_DOUBLE_EQ(m.at("loss"), 4.0 / 6);
  EXPECT_DOUBLE_EQ(m.at("acc"), 3.0 / 6);
  EXPECT_EQ(sums.examples(), 6);
  EXPECT_THROW(sums.add("top5", 1), std::out_of_range);
  EXPECT_DOUBLE_EQ(MetricSums(kInfos).means().at("loss"), 0.0);  // no examples: 0, not NaN
}
