// DecayFlags::warnings: --wd-all overrides each --nowd-* flag given with it, and says so.
#include <gtest/gtest.h>

#include "eshift/regularize/decay_flags.h"

using namespace eshift;

TEST(DecayFlags, WdAllNamesEachNowdFlagItOverrides) {
  DecayFlags f;
  f.wd_all = true;
  EXPECT_TRUE(f.warnings().empty());  // nothing overridden
  f.nowd_conv = true;
  ASSERT_EQ(f.warnings().size(), 1u);
  EXPECT_EQ(f.warnings()[0], "--wd-all decays every parameter; --nowd-conv is overridden");
  f.nowd_bn = f.nowd_fc = true;
  const auto w = f.warnings();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_NE(w[1].find("--nowd-bn is overridden"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find("--nowd-fc is overridden"), std::string::npos) << w[2];
}

TEST(DecayFlags, NowdFlagsWithoutWdAllAreNoWarning) {
  DecayFlags f;
  f.nowd_conv = f.nowd_bn = f.nowd_fc = true;
  f.el2 = true;
  EXPECT_TRUE(f.warnings().empty());
}

TEST(DecayFlags, WithEl2TheConvWarningSaysWhatStillHolds) {
  DecayFlags f;
  f.wd_all = f.el2 = f.nowd_conv = true;
  ASSERT_EQ(f.warnings().size(), 1u);
  EXPECT_NE(f.warnings()[0].find("ε-shifted"), std::string::npos) << f.warnings()[0];
  EXPECT_NE(f.warnings()[0].find("depthwise"), std::string::npos) << f.warnings()[0];
}
