// The equivalence experiment at rounding level (and its failure when the schedule is off by one
// step), and the report's figures (valid PNG files drawn by gnuplot).
#include <gtest/gtest.h>

#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/data/image_set.h"
#include "eshift/experiments/experiments.h"
#include "eshift/analysis/report.h"
#include "test_util.h"

using namespace eshift;

namespace {
std::shared_ptr<const Dataset> random_images(int64_t n) {
  torch::manual_seed(3);
  ImageSet s;
  s.images = torch::randint(0, 256, {n, 1, 8, 8}, torch::kInt64).to(torch::kUInt8);
  s.labels = torch::randint(0, 4, {n}, torch::kInt64);
  s.num_classes = 4;
  return std::make_shared<ImageSetDataset>(s);
}

EquivalenceConfig tiny(WeightFamily family) {
  EquivalenceConfig c;
  c.model.name = "resnet8";
  c.model.width = 4;
  c.model.wnorm = family;
  c.model.ws.delta = 0;
  c.model.in_channels = 1;
  c.model.num_classes = 4;
  c.steps = 200;
  c.batch_size = 8;
  c.lr = 0.1;
  c.lambda = 0.02;
  return c;
}
}  // namespace

TEST(Equivalence, DecayEqualsAGrowingLearningRateAtRoundingLevel) {
  auto data = random_images(64);
  for (auto family : {WeightFamily::WS, WeightFamily::WN}) {
    SCOPED_TRACE(family_name(family));
    auto trace = trace_equivalence(data, tiny(family));
    ASSERT_EQ(trace.logit_rel_diff.size(), 200u);
    EXPECT_LE(trace.max_logit_rel_diff(), 1e-9);
    EXPECT_LE(trace.max_direction_diff(), 1e-9);
    EXPECT_LE(trace.max_ratio_rel_error(), 1e-12);
    EXPECT_NEAR(trace.norm_ratio.back(), std::pow(1 - 0.1 * 0.02, -200.0), 1e-9);
    EXPECT_LT(trace.loss_a.back(), trace.loss_a.front());  // it trained
  }
}

TEST(Equivalence, FailsWhenTheRateScheduleIsOffByOneStep) {
  auto data = random_images(64);
  for (int offset : {1, -1}) {
    auto c = tiny(WeightFamily::WS);
    c.step_offset = offset;
    auto trace = trace_equivalence(data, c);
    EXPECT_GT(trace.max_logit_rel_diff(), 1e-6) << "offset " << offset;
    EXPECT_GT(trace.max_direction_diff(), 1e-6) << "offset " << offset;
  }
}

TEST(Report, RendersAValidPng) {
  test::TempDir dir;
  Figure fig{"a title with \"quotes\"", "step", "value", true, {{"one", {1, 2, 3}, {1e-3, 1e-2, 0.5}}, {"two", {1, 2}, {0, 2}}}};
  render_png(fig, dir / "fig.png");
  EXPECT_TRUE(is_valid_png(dir / "fig.png"));
  EXPECT_GT(std::filesystem::file_size(dir / "fig.png"), 1000u);
  EXPECT_TRUE(std::filesystem::exists(dir / "fig.dat"));
  EXPECT_TRUE(std::filesystem::exists(dir / "fig.gp"));
  // a truncated PNG is not valid
  std::filesystem::copy_file(dir / "fig.png", dir / "cut.png");
  std::filesystem::resize_file(dir / "cut.png", std::filesystem::file_size(dir / "cut.png") / 2);
  EXPECT_FALSE(is_valid_png(dir / "cut.png"));
  EXPECT_THROW(render_png(fig, dir / "fig.svg"), std::invalid_argument);
}

TEST(Report, TurnsARunDirectoryIntoFiguresAndMarkdown) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "run");
  {
    std::ofstream m(dir / "run/metrics.jsonl");
    const char* layer = R"({"name":"conv1.weight","family":"ws","sigma":{"min":0.01,"median":0.05,"max":0.1},"effective_lr":0.2})";
    for (int s = 1; s <= 4; ++s)
      m << R"({"kind":"probe","step":)" << s * 10 << R"(,"epoch":1,"sigma_min":0.01,"effective_lr_median":0.2,"angular_update_median":0.01,"fp16_ratio":1e-6,"layers":[)"
        << layer << "]}\n";
    m << R"({"kind":"epoch","epoch":1,"train_loss":1.5,"train_acc":0.5,"test_loss":1.2,"test_acc":0.6,"sigma_min":0.01})" << "\n";
    m << R"({"kind":"epoch","epoch":2,"train_loss":1.0,"train_acc":0.7,"test_loss":0.9,"test_acc":0.7,"sigma_min":0.01})" << "\n";
  }
  // the same run again under another parent: both keep their own per-layer figures
  std::filesystem::create_directories(dir / "other");
  std::filesystem::copy(dir / "run", dir / "other/run");
  const auto both = write_report({dir / "run", dir / "other/run"}, dir / "both");
  EXPECT_TRUE(is_valid_png(dir / "both/layers_sigma_other_run.png"));
  EXPECT_EQ(std::count_if(std::filesystem::directory_iterator(dir / "both"), {},
                          [](const auto& e) { return e.path().filename().string().rfind("layers_sigma_", 0) == 0 &&
                                                     e.path().extension() == ".png"; }),
            2);
  const auto md_path = write_report({dir / "run"}, dir / "out");
  std::ifstream in(md_path);
  std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("| run | 2 | 1.0000 | 70.00% |"), std::string::npos) << md;
  for (const char* png : {"loss.png", "accuracy.png", "sigma.png", "effective_lr.png", "layers_sigma_run.png"}) {
    EXPECT_NE(md.find(png), std::string::npos) << png;
    EXPECT_TRUE(is_valid_png(dir / (std::string("out/") + png))) << png;
  }
  EXPECT_THROW(write_report({dir / "nothing-here"}, dir / "out2"), DataError);
}
