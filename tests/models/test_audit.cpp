// The scale-invariance audit classifies known models' parameters correctly.
#include <gtest/gtest.h>

#include "eshift/models/audit.h"

using namespace eshift;

namespace {
std::vector<AuditRow> audit(WeightFamily family, const std::string& norm) {
  ModelSpec spec;
  spec.name = "resnet8";
  spec.wnorm = family;
  spec.norm = norm;
  spec.in_channels = 1;
  AuditOptions options;
  options.height = options.width = 12;
  return audit_scale_invariance(spec, options);
}
}  // namespace

TEST(Audit, ConvsFollowedByNormAreInvariantClassifierAndGammaAreNot) {
  for (auto family : {WeightFamily::WS, WeightFamily::None}) {
    for (const std::string norm : {"bn", "gn"}) {
      SCOPED_TRACE(family_name(family) + "+" + norm);
      auto rows = audit(family, norm);
      ASSERT_EQ(rows.size(), 29u);
      for (const auto& r : rows) {
        if (r.shape.size() == 4) {
          EXPECT_TRUE(r.measured_invariant) << r.name << " " << r.relative_change;
          // not exact: the norm layer's ε, and WS's δ under GroupNorm (which mixes filters of a group)
          EXPECT_LT(r.relative_change, 1e-4) << r.name;
        } else {
          // BN/GN γ and β, the classifier weight and its bias all change the output
          EXPECT_FALSE(r.measured_invariant) << r.name << " " << r.relative_change;
          EXPECT_GT(r.relative_change, 1e-2) << r.name;
        }
        EXPECT_FALSE(r.mismatch()) << r.name;
      }
    }
  }
}

TEST(Audit, FindsTheRedundantGainOfWeightNormBeforeBatchNorm) {
  // g of a WN conv followed by BN is scale-invariant although it is a gain: the audit says so.
  auto rows = audit(WeightFamily::WN, "bn");
  int gains = 0;
  for (const auto& r : rows) {
    if (r.name.find(".gain") == std::string::npos) continue;
    ++gains;
    EXPECT_TRUE(r.measured_invariant) << r.name;
    EXPECT_TRUE(r.mismatch()) << r.name;
  }
  EXPECT_EQ(gains, 9);
  EXPECT_NE(audit_table(rows).find("9 warnings"), std::string::npos);
}
