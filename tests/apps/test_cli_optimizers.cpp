// `eshift train --optimizer`: each optimizer trains with the ε-shifted decay (the loss falls, the
// decay table shows how it is applied, config.json records it, a resume continues it), the
// Adam family's own default rate, and bad optimizer settings name their flag.
#include <gtest/gtest.h>

#include "cli_util.h"

using namespace eshift::test;

namespace cli_optimizers_test {
// kQuick without its --lr: the Adam family's default rate is under test
const std::string kNoLr = "train" + kData + " --model resnet8 --train-subset 320 --test-subset 200 --batch-size 32 --seed 11";
}  // namespace cli_optimizers_test


TEST(CliOptimizers, EachOptimizerTrainsWithTheEpsShiftedDecay) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  struct Case { std::string name, extra, decay_shown; };
  for (const auto& c : std::vector<Case>{{"adamw", "", "decoupled eps-l2[ws]"},
                                         {"adam", "", "eps-l2[ws]"},
                                         {"lamb", " --lr 0.01", "decoupled eps-l2[ws]"},
                                         {"lars", " --lr 1", "eps-l2[ws]"},
                                         {"sgdp", " --lr 0.05 --invariance roles", "decoupled eps-l2[ws]"},
                                         {"adamp", " --invariance audit", "decoupled eps-l2[ws]"}}) {
    const auto out = dir / c.name;
    auto r = run(cli_optimizers_test::kNoLr + " --epochs 2 --el2 --lam 0.01 --optimizer " + c.name + c.extra + " --out " + out);
    ASSERT_EQ(r.code, 0) << c.name << ": " << r.err;
    EXPECT_NE(r.out.find("optimizer " + c.name + " ("), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.decay_shown), std::string::npos) << c.name << ": " << r.out;
    if (c.name == "adam" || c.name == "lars") EXPECT_EQ(r.out.find("decoupled eps-l2"), std::string::npos) << r.out;
    if (c.name == "adamw" || c.name == "adam") EXPECT_NE(r.out.find("--lr 0.001"), std::string::npos) << r.out;
    auto m = metrics(out);
    ASSERT_EQ(m.size(), 2u) << c.name;
    EXPECT_LT(m[1]["train_loss"].get<double>(), std::log(10.0)) << c.name;  // learns: better than chance
    const auto config = nlohmann::json::parse(slurp(out + "/config.json"));
    EXPECT_EQ(config["optimizer"], c.name);
    if (c.name == "adamw") EXPECT_EQ(config["lr"].get<double>(), 1e-3);
  }
  // a resume continues the AdamW run with its moments (and refuses another optimizer)
  auto more = run(cli_optimizers_test::kNoLr + " --epochs 3 --el2 --lam 0.01 --optimizer adamw --resume --resume-override epochs --out " +
                  (dir / "adamw"));
  EXPECT_EQ(more.code, 0) << more.err;
  EXPECT_EQ(metrics(dir / "adamw").size(), 3u);
  auto other = run(cli_optimizers_test::kNoLr + " --epochs 3 --el2 --lam 0.01 --optimizer sgd --resume --resume-override epochs --out " +
                   (dir / "adamw"));
  EXPECT_NE(other.code, 0);
  EXPECT_NE(other.err.find("optimizer"), std::string::npos) << other.err;
}

TEST(CliOptimizers, BadOptimizerSettingsNameTheirFlag) {
  TempDir dir;
  struct Case { std::string args, needle; };
  for (const auto& c : std::vector<Case>{{" --optimizer rmsprop", "--optimizer"},
                                         {" --optimizer adamw --beta2 1", "--beta2"},
                                         {" --optimizer sgd --invariance roles", "--invariance"},
                                         {" --optimizer sgdp --wd-ratio 2", "--wd-ratio"},
                                         {" --optimizer lamb --decoupled-wd", "--decoupled-wd"}}) {
    auto r = run(kQuick + c.args + " --out " + (dir / "run"));
    expect_one_line_error(r, c.needle);
    EXPECT_FALSE(std::filesystem::exists(dir / "run")) << c.args;
  }
}
