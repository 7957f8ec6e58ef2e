// Recipes: the paper's settings for the flags not given, every given flag wins, the learning rate
// follows the batch size, and an unknown recipe is an error naming --recipe.
#include <gtest/gtest.h>

#include <set>

#include "eshift/train/recipe.h"

using namespace eshift;

TEST(Recipe, ImagenetLargeIsThePapersLargeModelRecipe) {
  TrainConfig c;
  const auto lines = apply_recipe(find_recipe("imagenet-large"), c, [](const std::string&) { return false; });
  EXPECT_EQ(c.data, "imagenet");
  EXPECT_EQ(c.model.name, "resnet50");
  EXPECT_EQ(c.epochs, 100);
  EXPECT_EQ(c.batch_size, 256);
  EXPECT_DOUBLE_EQ(c.schedule.base_lr, 0.1);
  EXPECT_EQ(c.schedule.milestones, (std::vector<int>{30, 60, 90}));
  EXPECT_DOUBLE_EQ(c.schedule.gamma, 0.1);
  EXPECT_DOUBLE_EQ(c.decay.wd, 1e-4);
  EXPECT_TRUE(c.decay.el2 && c.decay.nowd_conv);
  EXPECT_DOUBLE_EQ(c.decay.lam, 1e-4);
  EXPECT_DOUBLE_EQ(c.decay.mineps, 1e-3);
  EXPECT_FALSE(c.schedule.cosine);
  EXPECT_DOUBLE_EQ(c.label_smoothing, 0);
  EXPECT_EQ(c.recipe, "imagenet-large");
  EXPECT_EQ(lines.size(), find_recipe("imagenet-large").settings.size());  // every setting printed
  for (const auto& line : lines) EXPECT_NE(line.find("("), std::string::npos) << "no source: " << line;
}

TEST(Recipe, GivenFlagsWinAndTheLearningRateScalesWithTheGivenBatch) {
  TrainConfig c;
  c.batch_size = 512;
  c.epochs = 7;
  const std::set<std::string> given{"--batch-size", "--epochs"};
  const auto lines = apply_recipe(find_recipe("imagenet-large"), c, [&](const std::string& f) { return given.count(f) > 0; });
  EXPECT_EQ(c.batch_size, 512);
  EXPECT_EQ(c.epochs, 7);
  EXPECT_DOUBLE_EQ(c.schedule.base_lr, 0.2);  // 0.1 × 512/256
  EXPECT_EQ(c.schedule.milestones, (std::vector<int>{2, 4, 6}));  // 30/60/90 of 100 epochs, scaled to 7
  int mentioned = 0;
  for (const auto& line : lines) mentioned += line.find("given on the command line") != std::string::npos;
  EXPECT_EQ(mentioned, 2);
  TrainConfig d;
  d.schedule.base_lr = 0.05;
  apply_recipe(find_recipe("imagenet-large"), d, [](const std::string& f) { return f == "--lr"; });
  EXPECT_DOUBLE_EQ(d.schedule.base_lr, 0.05);
}

TEST(Recipe, Coco1xIsTheStandardScheduleAndScalesWithTheGivenIterations) {
  TrainConfig c;
  const auto lines = apply_recipe(find_recipe("coco-1x"), c, [](const std::string&) { return false; });
  EXPECT_EQ(c.task, "detect");
  EXPECT_EQ(c.data, "coco");
  EXPECT_EQ(c.model.name, "maskrcnn_resnet50_fpn");
  EXPECT_EQ(c.model.norm, "gn");
  EXPECT_EQ(c.model.wnorm, WeightFamily::WS);
  EXPECT_EQ(c.batch_size, 16);
  EXPECT_DOUBLE_EQ(c.schedule.base_lr, 0.02);
  EXPECT_EQ(c.schedule.iterations, 90000);
  EXPECT_EQ(c.schedule.milestones, (std::vector<int>{60000, 80000}));
  EXPECT_EQ(c.schedule.warmup_iters, 500);
  EXPECT_DOUBLE_EQ(c.schedule.warmup_factor, 1.0 / 3);
  EXPECT_DOUBLE_EQ(c.decay.wd, 1e-4);
  EXPECT_FALSE(c.decay.el2);  // the decay is the user's choice: both arms of the comparison
  EXPECT_EQ(c.min_size, 800);
  EXPECT_EQ(c.max_size, 1333);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(lines.size(), find_recipe("coco-1x").settings.size());
  // a short run: --iterations 900 and batch 2 → milestones 600/800, warm-up 90, lr 0.0025
  TrainConfig s;
  s.schedule.iterations = 900;
  s.batch_size = 2;
  const std::set<std::string> given{"--iterations", "--batch-size"};
  apply_recipe(find_recipe("coco-1x"), s, [&](const std::string& f) { return given.count(f) > 0; });
  EXPECT_EQ(s.schedule.iterations, 900);
  EXPECT_EQ(s.schedule.milestones, (std::vector<int>{600, 800}));
  EXPECT_EQ(s.schedule.warmup_iters, 90);
  EXPECT_DOUBLE_EQ(s.schedule.base_lr, 0.0025);
  EXPECT_NO_THROW(s.validate());
}

TEST(Recipe, MobileAndCifarRecipes) {
  TrainConfig m;
  apply_recipe(find_recipe("imagenet-mobile"), m, [](const std::string&) { return false; });
  EXPECT_TRUE(m.schedule.cosine);
  EXPECT_EQ(m.schedule.warmup_epochs, 5);
  EXPECT_DOUBLE_EQ(m.label_smoothing, 0.1);
  EXPECT_DOUBLE_EQ(m.schedule.base_lr, 0.4);  // batch 1024
  EXPECT_TRUE(m.decay.nowd_bn && m.decay.nowd_fc && m.decay.nowd_conv && m.decay.el2);
  EXPECT_DOUBLE_EQ(m.decay.wd, 4e-5);
  EXPECT_DOUBLE_EQ(m.decay.mineps, 1e-6);
  TrainConfig c;
  apply_recipe(find_recipe("cifar100"), c, [](const std::string&) { return false; });
  EXPECT_EQ(c.data, "cifar100");
  EXPECT_EQ(c.crop_padding, 4);
  EXPECT_EQ(c.model.name, "resnet110");
  EXPECT_NO_THROW(c.validate());  // the recipe is a valid run
  try {
    find_recipe("imagenet-huge");
    FAIL() << "unknown recipe accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown --recipe 'imagenet-huge' (known: imagenet-large"), std::string::npos);
  }
}
