// The decay policy reproduces the reference trainer's flags and rules.
#include <gtest/gtest.h>

#include "eshift/regularize/decay_policy.h"

using namespace eshift;

namespace {
ParamInfo param(ParamRole role, WeightFamily family = WeightFamily::None) {
  return {"p", torch::zeros({4, 2, 3, 3}), role, family, true};
}
}  // namespace

TEST(DecayPolicy, DefaultsDecayWeightsButNotBiasesOrShifts) {
  DecayFlags f;
  f.wd = 1e-4;
  DecayPolicy policy(f);
  for (auto role : {ParamRole::NormalizedWeight, ParamRole::ConvWeight, ParamRole::DepthwiseWeight,
                    ParamRole::NormScale, ParamRole::ClassifierWeight}) {
    auto r = policy.regularizer_for(param(role));
    EXPECT_EQ(r.kind, RegKind::L2) << role_name(role);
    EXPECT_EQ(r.lambda, 1e-4);
  }
  EXPECT_FALSE(policy.regularizer_for(param(ParamRole::Bias)).active());
  EXPECT_FALSE(policy.regularizer_for(param(ParamRole::NormShift)).active());
}

TEST(DecayPolicy, NowdFlagsSwitchOffTheirRole) {
  DecayFlags f;
  f.nowd_bn = f.nowd_fc = f.nowd_conv = true;
  DecayPolicy policy(f);
  for (auto role : {ParamRole::NormalizedWeight, ParamRole::ConvWeight, ParamRole::DepthwiseWeight,
                    ParamRole::NormScale, ParamRole::ClassifierWeight})
    EXPECT_FALSE(policy.regularizer_for(param(role)).active()) << role_name(role);
}

TEST(DecayPolicy, WdAllDecaysEverything) {
  DecayFlags f;
  f.wd_all = true;
  f.nowd_bn = true;  // overridden, as in the reference
  DecayPolicy policy(f);
  for (int r = 0; r < kNumParamRoles; ++r)
    EXPECT_EQ(policy.regularizer_for(param(static_cast<ParamRole>(r))).kind, RegKind::L2);
}

TEST(DecayPolicy, El2ReplacesL2OnNonDepthwiseConvWeightsWithTheFamilyFormula) {
  DecayFlags f;
  f.el2 = true;
  f.lam = 2e-4;
  f.mineps = 1e-3;
  f.wd = 1e-4;
  DecayPolicy policy(f);
  auto ws = policy.regularizer_for(param(ParamRole::NormalizedWeight, WeightFamily::WS));
  EXPECT_EQ(ws.kind, RegKind::EpsShifted);
  EXPECT_EQ(ws.family, WeightFamily::WS);
  EXPECT_EQ(ws.lambda, 2e-4);
  EXPECT_EQ(ws.eps, 1e-3);
  EXPECT_EQ(policy.regularizer_for(param(ParamRole::NormalizedWeight, WeightFamily::CWN)).family, WeightFamily::CWN);
  EXPECT_EQ(policy.regularizer_for(param(ParamRole::NormalizedWeight, WeightFamily::WN)).family, WeightFamily::WN);
  // a plain conv gets the WS formula, as the reference applies it to every 4-D weight
  auto plain = policy.regularizer_for(param(ParamRole::ConvWeight));
  EXPECT_EQ(plain.kind, RegKind::EpsShifted);
  EXPECT_EQ(plain.family, WeightFamily::WS);
  // depthwise: never the ε-term; ordinary L2 unless --nowd-conv
  EXPECT_EQ(policy.regularizer_for(param(ParamRole::DepthwiseWeight, WeightFamily::WS)).kind, RegKind::L2);
  f.nowd_conv = true;
  EXPECT_FALSE(DecayPolicy(f).regularizer_for(param(ParamRole::DepthwiseWeight)).active());
  // everything else keeps ordinary decay
  EXPECT_EQ(policy.regularizer_for(param(ParamRole::NormScale)).kind, RegKind::L2);
  EXPECT_EQ(policy.regularizer_for(param(ParamRole::ClassifierWeight)).kind, RegKind::L2);
  EXPECT_FALSE(policy.regularizer_for(param(ParamRole::Bias)).active());
}

TEST(DecayPolicy, DecoupledFlagMakesOrdinaryDecayDecoupled) {
  DecayFlags f;
  f.decoupled = true;
  EXPECT_TRUE(DecayPolicy(f).regularizer_for(param(ParamRole::ClassifierWeight)).decoupled);
}

TEST(DecayPolicy, GroupsShareRegularizersAndTableCountsElements) {
  DecayFlags f;
  f.el2 = true;
  DecayPolicy policy(f);
  std::vector<ParamInfo> params = {param(ParamRole::NormalizedWeight, WeightFamily::WS),
                                   {"b", torch::zeros({4}), ParamRole::Bias},
                                   param(ParamRole::NormalizedWeight, WeightFamily::WS),
                                   {"g", torch::zeros({4}), ParamRole::NormScale},
                                   {"beta", torch::zeros({4}), ParamRole::NormShift}};
  auto groups = policy.group(params);
  ASSERT_EQ(groups.size(), 3u);  // eps-l2, none (bias + β), l2 (γ)
  EXPECT_EQ(groups[0].regularizer.kind, RegKind::EpsShifted);
  EXPECT_EQ(groups[0].params.size(), 2u);
  EXPECT_EQ(groups[1].params.size(), 2u);
  EXPECT_FALSE(groups[1].regularizer.active());
  auto table = policy.table(params);
  EXPECT_NE(table.find("normalized weight [ws]"), std::string::npos);
  EXPECT_NE(table.find("eps-l2[ws]"), std::string::npos);
  EXPECT_NE(table.find("144"), std::string::npos);  // 2 × 4·2·3·3 elements
}

TEST(DecayPolicy, RejectsImpossibleValues) {
  DecayFlags f;
  f.mineps = -1e-3;
  EXPECT_THROW(DecayPolicy{f}, std::invalid_argument);
  f = {};
  f.wd = -1;
  EXPECT_THROW(DecayPolicy{f}, std::invalid_argument);
  f = {};
  f.lam = std::nan("");
  EXPECT_THROW(DecayPolicy{f}, std::invalid_argument);
}

// The paper's comparison as one preset: what each role gets in each arm.
TEST(ConvDecayPreset, EachArmGivesTheConvWeightsItsRegularizerAndTheOthersTheirs) {
  const double lambda = 5e-4, eps = 1e-2;
  struct Expect {
    ConvDecay conv;
    double others;
    RegKind conv_kind;  // what normalized and plain conv weights get
    bool others_decayed;
  };
  for (const auto& e : {Expect{ConvDecay::None, lambda, RegKind::None, true},
                        Expect{ConvDecay::L2, lambda, RegKind::L2, true},
                        Expect{ConvDecay::EpsShifted, lambda, RegKind::EpsShifted, true},
                        Expect{ConvDecay::L2, 0, RegKind::L2, false},
                        Expect{ConvDecay::EpsShifted, 0, RegKind::EpsShifted, false}}) {
    SCOPED_TRACE(int(e.conv));
    SCOPED_TRACE(e.others);
    const auto flags = conv_decay_preset(e.conv, lambda, eps, e.others);
    const DecayPolicy policy(flags);
    for (auto role : {ParamRole::NormalizedWeight, ParamRole::ConvWeight}) {
      const auto r = policy.regularizer_for(param(role, WeightFamily::WS));
      EXPECT_EQ(r.active() ? r.kind : RegKind::None, e.conv_kind);
      if (r.active()) {
        EXPECT_EQ(r.lambda, lambda);
      }
      if (r.kind == RegKind::EpsShifted) {
        EXPECT_EQ(r.eps, eps);
      }
    }
    for (auto role : {ParamRole::NormScale, ParamRole::ClassifierWeight}) {
      const auto r = policy.regularizer_for(param(role));
      EXPECT_EQ(r.active(), e.others_decayed) << role_name(role);
      if (r.active()) {
        EXPECT_TRUE(r.kind == RegKind::L2 && r.lambda == lambda) << r.describe();
      }
    }
    EXPECT_FALSE(policy.regularizer_for(param(ParamRole::Bias)).active());
    EXPECT_FALSE(policy.regularizer_for(param(ParamRole::NormShift)).active());
    // depthwise weights never get the ε-term
    EXPECT_NE(policy.regularizer_for(param(ParamRole::DepthwiseWeight)).kind, RegKind::EpsShifted);
    EXPECT_EQ(flags.mineps, eps);  // also the probes' σ threshold
  }
}

TEST(ConvDecayPreset, KeepsTheBaseFlagsItDoesNotSetAndRefusesTwoL2Strengths) {
  DecayFlags base;
  base.decoupled = true;
  base.nowd_fc = true;
  const auto flags = conv_decay_preset(ConvDecay::L2, 1e-3, 1e-3, 1e-3, base);
  EXPECT_TRUE(flags.decoupled);
  EXPECT_TRUE(flags.nowd_fc);
  EXPECT_TRUE(DecayPolicy(flags).regularizer_for(param(ParamRole::ConvWeight)).decoupled);
  EXPECT_THROW(conv_decay_preset(ConvDecay::L2, 1e-3, 1e-3, 1e-4), std::invalid_argument);
}
