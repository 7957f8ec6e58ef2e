// Learning-rate schedules against the reference trainer's adjust_learning_rate, computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "eshift/optim/lr_schedule.h"

using namespace eshift;

TEST(LrSchedule, StepCosineAndWarmupFollowTheReference) {
  LrSchedule step;
  step.base_lr = 0.1;
  step.milestones = {3, 6};
  step.gamma = 0.1;
  EXPECT_DOUBLE_EQ(step.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(2), 0.1);
  EXPECT_NEAR(step.lr_at(3), 0.01, 1e-15);
  EXPECT_NEAR(step.lr_at(7), 0.001, 1e-15);

  LrSchedule cosine;
  cosine.base_lr = 0.4;
  cosine.cosine = true;
  cosine.epochs = 10;
  cosine.warmup_epochs = 2;
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 0.2);  // 0.4·1/2
  EXPECT_DOUBLE_EQ(cosine.lr_at(1), 0.4);
  EXPECT_NEAR(cosine.lr_at(5), 0.4 * 0.5 * (1 + std::cos(M_PI * 5 / 10)), 1e-15);
  EXPECT_GT(cosine.lr_at(9), 0);

  LrSchedule bad;
  bad.base_lr = -1;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}

TEST(LrSchedule, MilestonesInsideTheWarmupDoNotCount) {
  LrSchedule s;
  s.base_lr = 1;
  s.milestones = {1, 4};
  s.gamma = 0.5;
  s.warmup_epochs = 2;
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.5);  // warm-up: 1·(0+1)/2
  EXPECT_DOUBLE_EQ(s.lr_at(1), 1.0);  // 1·2/2
  EXPECT_DOUBLE_EQ(s.lr_at(3), 1.0);  // milestone 1 lies inside the warm-up: ignored
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.5);
  EXPECT_EQ(s.describe(), "lr 1, warmup 2 epochs, ×0.5 at epochs 1 4");
}

TEST(LrSchedule, IterationsCountMilestonesInStepsAndTheWarmUpRisesLinearlyFromItsFactor) {
  LrSchedule s;
  s.base_lr = 0.02;
  s.iterations = 90000;
  s.milestones = {60000, 80000};
  s.warmup_iters = 500;
  s.warmup_factor = 1.0 / 3;
  EXPECT_NEAR(s.lr_at_step(0, 0), 0.02 / 3, 1e-17);                                 // the factor
  EXPECT_NEAR(s.lr_at_step(250, 0), 0.02 * (1.0 / 3 + (2.0 / 3) * 0.5), 1e-17);     // halfway
  EXPECT_DOUBLE_EQ(s.lr_at_step(500, 0), 0.02);
  EXPECT_DOUBLE_EQ(s.lr_at_step(59999, 7), 0.02);   // the epoch does not count
  EXPECT_NEAR(s.lr_at_step(60000, 0), 0.002, 1e-17);  // the milestone's own step decays
  EXPECT_NEAR(s.lr_at_step(80000, 0), 0.0002, 1e-17);
  EXPECT_TRUE(s.per_step());
  EXPECT_EQ(s.describe(), "lr 0.02, warmup 500 iterations from ×0.333333, ×0.1 at iterations 60000 80000, 90000 iterations");
  s.cosine = true;
  s.warmup_iters = 0;
  EXPECT_NEAR(s.lr_at_step(30000, 0), 0.02 * 0.5 * (1 + std::cos(M_PI / 3)), 1e-17);
}

TEST(LrSchedule, AStepWarmUpMultipliesAnEpochSchedule) {
  LrSchedule s;
  s.base_lr = 1;
  s.milestones = {1};
  s.gamma = 0.1;
  s.warmup_iters = 4;
  s.warmup_factor = 0.5;
  EXPECT_DOUBLE_EQ(s.lr_at_step(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at_step(2, 0), 0.75);
  EXPECT_DOUBLE_EQ(s.lr_at_step(3, 1), 0.1 * 0.875);  // epoch 1's decay, still warming up
  EXPECT_DOUBLE_EQ(s.lr_at_step(4, 1), 0.1);
  LrSchedule plain;
  EXPECT_FALSE(plain.per_step());
}

TEST(LrSchedule, ImpossibleValuesNameTheirFlag) {
  auto message = [](const LrSchedule& s) {
    try {
      s.validate();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  LrSchedule s;
  s.gamma = 0;
  EXPECT_NE(message(s).find("--gamma"), std::string::npos);
  s = {};
  s.warmup_epochs = -1;
  EXPECT_NE(message(s).find("--warmup"), std::string::npos);
  s = {};
  s.milestones = {3, -2};
  EXPECT_NE(message(s).find("--schedule"), std::string::npos);
  s = {};
  s.base_lr = std::nan("");
  EXPECT_NE(message(s).find("--lr"), std::string::npos);
  s = {};
  s.iterations = 100;
  s.milestones = {100};
  EXPECT_NE(message(s).find("--schedule milestone 100 must be below --iterations 100"), std::string::npos);
  s = {};
  s.iterations = 100;
  s.warmup_epochs = 1;
  EXPECT_NE(message(s).find("--warmup-iters"), std::string::npos);
  s = {};
  s.warmup_factor = 0;
  EXPECT_NE(message(s).find("--warmup-factor"), std::string::npos);
  s = {};
  s.iterations = 10;
  s.warmup_iters = 10;
  EXPECT_NE(message(s).find("--warmup-iters 10 must be below --iterations 10"), std::string::npos);
}
