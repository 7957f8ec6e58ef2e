// eshift demo on a small version of its default setting: three arms over two seeds, a table and
// sentences computed from the runs, report.md and two figures; the σ-collapse warning in the plain-L2
// arm only; an earlier demo is replaced, another directory refused.
#include <gtest/gtest.h>

#include "cli_util.h"

using namespace eshift;
using namespace eshift::test;

TEST(CliDemo, ShowsTheCollapseUnderPlainL2AndItsHoldByTheEpsShiftFromTheRuns) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string demo = "demo" + kData + " --train-subset 640 --test-subset 100 --batch-size 32 --epochs 3 "
                           "--probe-every 5 --out " + (dir / "demo");
  auto r = run(demo + " --seeds 2 --no-third-arm");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  // both arms over both seeds, each a run directory
  for (const std::string arm : {"plain_l2", "eps_l2"})
    for (const std::string seed : {"0", "1"})
      EXPECT_EQ(metrics(dir / ("demo/" + arm + "-seed" + seed)).size(), 3u) << arm << seed;
  // the table's σ row is the runs' own: plain L2's smallest σ far below ε = 0.02, the ε-shift's at it
  auto sigma = [&](const std::string& arm) {
    std::vector<double> v;
    for (const std::string seed : {"0", "1"}) v.push_back(metrics(dir / ("demo/" + arm + "-seed" + seed)).back()["sigma_min"]);
    return v;
  };
  for (double s : sigma("plain_l2")) EXPECT_LT(s, 0.5 * 0.02);
  for (double s : sigma("eps_l2")) EXPECT_GT(s, 0.9 * 0.02);
  const double plain_mean = (sigma("plain_l2")[0] + sigma("plain_l2")[1]) / 2;
  char expected[64];
  std::snprintf(expected, sizeof expected, "Plain L2 drove the smallest filter σ to %.3g", plain_mean);
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| smallest filter σ (ε = 0.02) | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Over these 2 seeds the training loss varies by ±"), std::string::npos) << r.out;
  // the σ-collapse warning fired in the plain-L2 arm and never in the ε-shift's
  EXPECT_NE(r.out.find("plain-L2 2/3: warning: σ collapse"), std::string::npos) << r.out;
  for (const std::string epoch : {"1/3", "2/3", "3/3"})
    EXPECT_EQ(r.out.find("eps-L2 " + epoch + ": warning"), std::string::npos) << r.out;
  // report.md and the figures, their paths printed
  EXPECT_NE(r.out.find("report: " + (dir / "demo/report.md")), std::string::npos) << r.out;
  EXPECT_NE(slurp(dir / "demo/report.md").find("![smallest filter σ of the conv weights](sigma_min.png)"), std::string::npos);
  for (const std::string png : {"sigma_min.png", "sigma_below_eps.png"}) {
    EXPECT_NE(r.out.find("figure: " + (dir / ("demo/" + png))), std::string::npos) << png;
    EXPECT_TRUE(std::filesystem::exists(dir / ("demo/" + png))) << png;
  }
  // a second demo (one seed, the third arm too) replaces the first; a directory with something else
  // in it is refused
  auto again = run(demo + " --seeds 1");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("replacing the earlier demo in " + (dir / "demo")), std::string::npos) << again.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "demo/eps_l2-seed0"));
  for (const std::string arm : {"plain_l2", "eps_l2", "no_decay"})
    EXPECT_TRUE(std::filesystem::exists(dir / ("demo/" + arm + "/checkpoint.pt"))) << arm;
  EXPECT_NE(again.out.find("| after 3 epochs | plain L2 | ε-shifted L2 | no decay |"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("One seed: `--seeds 5` measures the run-to-run spread"), std::string::npos) << again.out;
  std::filesystem::create_directories(dir / "other");
  std::ofstream(dir / "other/notes.txt") << "mine";
  expect_one_line_error(run("demo --out " + (dir / "other")), "holds no earlier demo (demo.json): choose another --out");
  EXPECT_TRUE(std::filesystem::exists(dir / "other/notes.txt"));
}
