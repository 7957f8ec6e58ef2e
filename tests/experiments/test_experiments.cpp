// The equivalence experiment at rounding level (and its failure when the schedule is off by one
// step), every experiment's verdict line on tiny runs of Fashion-MNIST, and the report's figures
// (valid PNG files drawn by gnuplot).
#include <gtest/gtest.h>

#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/data/image_set.h"
#include "eshift/data/registry.h"
#include "eshift/experiments/common.h"
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

namespace {
using eshift::test::slurp;

// An experiment on a few Fashion-MNIST images: resnet8, 64 training and 40 test images, 1 epoch.
ExperimentOptions tiny_experiment(const std::string& out) {
  ExperimentOptions o;
  o.out_dir = out;
  o.data_dir = ESHIFT_FASHION_MNIST;
  o.model = "resnet8";
  o.train_subset = 64;
  o.test_subset = 40;
  o.batch_size = 32;
  o.epochs = 1;
  o.steps = 10;
  o.seeds = 2;
  return o;
}

// The table ends with exactly one verdict line, "yes" exactly when the result holds, naming the
// test images each run evaluated on; summary.md carries the same line.
void expect_verdict(const ExperimentResult& r, int64_t test_images) {
  const auto at = r.table.find("Verdict: ");
  ASSERT_NE(at, std::string::npos) << r.table;
  const auto line = r.table.substr(at, r.table.find('\n', at) + 1 - at);
  EXPECT_EQ(r.table.find("Verdict: ", at + 1), std::string::npos) << r.table;
  EXPECT_EQ(at + line.size(), r.table.size()) << "the verdict is not the table's last line: " << r.table;
  EXPECT_NE(line.find(r.holds ? " shows — yes (" : " shows — no ("), std::string::npos) << line;
  if (test_images > 0)
    EXPECT_NE(line.find("; " + std::to_string(test_images) + " test images per run)."), std::string::npos) << line;
  else
    EXPECT_NE(line.find("; no test images: training batches only)."), std::string::npos) << line;
  EXPECT_NE(slurp(r.summary).find(line), std::string::npos) << r.summary;
}
}  // namespace

TEST(Verdict, SaysYesOrNoWithTheEvidenceAndTheTestImages) {
  EXPECT_EQ(verdict_line(true, "the claim", "x = 1.5", 2000),
            "Verdict: the claim shows — yes (x = 1.5; 2000 test images per run).\n");
  EXPECT_EQ(verdict_line(false, "the claim", "x = 0.5", 0),
            "Verdict: the claim shows — no (x = 0.5; no test images: training batches only).\n");
  EXPECT_EQ(strprintf("%.3f and %s", 0.12345, "text"), "0.123 and text");
}

TEST(Experiments, EachEndsWithAVerdictThatMatchesItsResult) {
  if (!std::filesystem::exists(std::string(ESHIFT_FASHION_MNIST)))
    GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  test::TempDir dir;
  for (const std::string name : {"equivalence", "underfit", "collapse", "seeds", "equilibrium", "optimizers", "mineps"}) {
    SCOPED_TRACE(name);
    const auto r = run_experiment(name, tiny_experiment(dir / name));
    expect_verdict(r, name == "equivalence" ? 0 : 40);  // the equivalence tests on nothing
    if (name == "mineps") {
      // auto and the sweep, each over both seeds; auto's ε is the one each run chose (> 0)
      for (const std::string arm : {"auto", "ε = 0.001", "ε = 0.003", "ε = 0.01", "ε = 0.02", "ε = 0.05"})
        EXPECT_NE(r.table.find("| " + arm + " | "), std::string::npos) << arm << "\n" << r.table;
      for (const std::string run : {"auto_seed0", "auto_seed1"}) {
        const auto config = nlohmann::json::parse(slurp(dir / (name + "/" + run + "/config.json")));
        EXPECT_TRUE(config["mineps_auto"].get<bool>()) << run;
        EXPECT_GT(config["mineps"].get<double>(), 0) << run;
        EXPECT_EQ(config["mineps_layers"].size(), 9u) << run;
      }
      EXPECT_NE(r.table.find("| ε = 0.02 | 0.02 | "), std::string::npos) << r.table;
      continue;
    }
    if (name != "optimizers") continue;
    // the 3 × 3 grid, each arm over both seeds, and the SGD column's ε sweep (ε = 0: the plain-L2 runs)
    for (const std::string opt : {"sgd", "adamw", "sgdp"})
      for (const std::string arm : {"no decay on conv", "plain L2", "ε-shifted L2, ε = 0.01"})
        EXPECT_NE(r.table.find("| " + opt + " | " + arm + " | "), std::string::npos) << opt << " / " << arm << "\n" << r.table;
    for (const std::string e : {"ε = 0 (plain L2: the same runs)", "ε = 1e-06", "ε = 0.001", "ε = 0.01"})
      EXPECT_NE(r.table.find("| " + e + " | "), std::string::npos) << e;
    // 11 runs per seed (9 + the sweep's ε = 1e-6 and 1e-3), the figure's png/dat/gp and summary.md
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / name), std::filesystem::directory_iterator{}),
              2 * 11 + 4);
  }
}

TEST(Experiments, TheVerdictCountsTheWholeTestSplitWhenNoSubsetIsGiven) {
  if (!std::filesystem::exists(std::string(ESHIFT_FASHION_MNIST)))
    GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  test::TempDir dir;
  auto o = tiny_experiment(dir / "collapse");
  o.test_subset = 0;  // all
  const auto r = run_collapse(o);
  expect_verdict(r, open_dataset("fashion-mnist", ESHIFT_FASHION_MNIST, "test")->size());
  // the float16 rows: the largest ratio at the held scale and the would-overflow steps, per arm
  EXPECT_NE(r.table.find("| largest (largest gradient element · loss scale) / 65504"), std::string::npos) << r.table;
  EXPECT_NE(r.table.find("| steps that would overflow float16 at the loss scale (parameter gradients) | "), std::string::npos)
      << r.table;
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

namespace {
// A run directory with 4 probes of `layers` conv layers, two epochs and config.json's ε.
void write_run(const std::filesystem::path& dir, int layers, double eps) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"mineps":)" << eps << "}\n";
  std::ofstream m(dir / "metrics.jsonl");
  for (int s = 1; s <= 4; ++s) {
    m << R"({"kind":"probe","step":)" << s * 10
      << R"(,"epoch":1,"sigma_min":0.01,"effective_lr_median":0.2,"angular_update_median":0.01,"fp16_ratio":1e-6,"layers":[)";
    for (int l = 0; l < layers; ++l)
      m << (l ? "," : "") << R"({"name":"conv)" << l << R"(.weight","sigma":{"min":0.01,"median":)" << 0.05 * (l + 1)
        << R"(,"max":0.1},"effective_lr":0.2})";
    m << "]}\n";
  }
  m << R"({"kind":"epoch","epoch":1,"train_loss":1.5,"train_acc":0.5,"test_loss":1.2,"test_acc":0.6,"sigma_min":0.01})" << "\n";
  m << R"({"kind":"epoch","epoch":2,"train_loss":1.0,"train_acc":0.7,"test_loss":0.9,"test_acc":0.7,"sigma_min":0.01})" << "\n";
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}
}  // namespace

TEST(Report, AnExperimentShowsEachTableAndFigureOnce) {
  test::TempDir dir;
  write_run(dir / "exp/plain_l2", 2, 0.02);
  write_run(dir / "exp/eps_l2", 2, 0.02);
  // as the experiments write it: their text, then their runs' table and figures
  const std::string summary = "An experiment.\n\n| | a | b |\n|---|---|---|\n| x | 1 | 2 |\n\n" +
                              report_runs({load_run(dir / "exp/plain_l2"), load_run(dir / "exp/eps_l2")}, dir / "exp");
  std::ofstream(dir / "exp/summary.md") << summary;
  const auto md = slurp(write_report({dir / "exp"}, dir / "report"));
  const size_t images = count(summary, "![");
  ASSERT_GE(images, 6u);  // loss, accuracy, σ, …, and two per-layer figures per run
  EXPECT_EQ(count(md, "!["), images) << md;
  for (const char* png : {"loss.png", "accuracy.png", "sigma.png", "grad_vs_fp16.png", "layers_sigma_eps_l2.png"})
    EXPECT_EQ(count(md, std::string("/") + png + ")"), 1u) << png << "\n" << md;
  EXPECT_EQ(count(md, "| run | epochs |"), 1u) << md;  // the runs' table
  EXPECT_EQ(count(md, "| x | 1 | 2 |"), 1u) << md;      // the experiment's own
  // the summary's figure links resolve from report.md's directory
  const auto first = md.find("](") + 2;
  EXPECT_TRUE(is_valid_png(dir / ("report/" + md.substr(first, md.find(")", first) - first)))) << md;
  // a second run directory beside the experiment is drawn in its own section
  write_run(dir / "alone", 1, 1e-3);
  const auto both = slurp(write_report({dir / "exp", dir / "alone"}, dir / "report2"));
  EXPECT_EQ(count(both, "!["), images + 8) << both;  // 6 overview figures + 2 per-layer ones of "alone"
}

TEST(Report, SigmaFiguresDrawEachRunsEpsilon) {
  test::TempDir dir;
  write_run(dir / "a", 2, 0.02);
  write_run(dir / "b", 2, 1e-3);
  write_report({dir / "a", dir / "b"}, dir / "out");
  const auto gp = slurp(dir / "out/sigma.gp");
  EXPECT_NE(gp.find("0.02 with lines"), std::string::npos) << gp;
  EXPECT_NE(gp.find("title \"ε = 0.02 (a)\""), std::string::npos) << gp;
  EXPECT_NE(gp.find("0.001 with lines"), std::string::npos) << gp;
  EXPECT_NE(gp.find("title \"ε = 0.001 (b)\""), std::string::npos) << gp;
  EXPECT_NE(slurp(dir / "out/layers_sigma_a.gp").find("title \"ε = 0.02\""), std::string::npos);
  EXPECT_TRUE(is_valid_png(dir / "out/sigma.png"));
}

TEST(Report, LayersAreColouredByDepthAndAccuracyIsInPercent) {
  test::TempDir dir;
  write_run(dir / "run", 3, 0.02);
  write_report({dir / "run"}, dir / "out");
  const auto gp = slurp(dir / "out/layers_sigma_run.gp");
  const auto c0 = gp.find("lc rgb \"#440154\""), c1 = gp.find("lc rgb \"" + sequential_color(0.5) + "\""),
             c2 = gp.find("lc rgb \"#fde725\"");
  ASSERT_NE(c0, std::string::npos) << gp;
  ASSERT_NE(c1, std::string::npos) << gp;
  ASSERT_NE(c2, std::string::npos) << gp;
  EXPECT_LT(c0, c1);  // first layer first, last layer last
  EXPECT_LT(c1, c2);
  EXPECT_NE(gp.find("first (dark purple) → last (yellow)"), std::string::npos) << gp;
  EXPECT_NE(slurp(dir / "out/accuracy.gp").find("\"accuracy (%)\""), std::string::npos);
  const auto dat = slurp(dir / "out/accuracy.dat");
  EXPECT_NE(dat.find("2 70\n"), std::string::npos) << dat;  // train accuracy 0.7 at epoch 2
  EXPECT_EQ(dat.find("2 0.7\n"), std::string::npos) << dat;
}

TEST(Report, SequentialColoursRunAlongViridis) {
  EXPECT_EQ(sequential_color(0), "#440154");
  EXPECT_EQ(sequential_color(1), "#fde725");
  EXPECT_EQ(sequential_color(0.5), "#21918c");
  // ⅛ is halfway between the stops at 0 (68,1,84) and ¼ (59,82,139): (63.5, 41.5, 111.5), rounded away from 0
  EXPECT_EQ(sequential_color(0.125), "#402a70");
  EXPECT_EQ(sequential_color(-1), "#440154");  // clamped
  EXPECT_EQ(sequential_color(2), "#fde725");
}

TEST(Report, AFigureWithoutDataIsAnEmptyFrame) {
  test::TempDir dir;
  render_png({"nothing yet", "step", "value", true, {{"empty", {}, {}}}}, dir / "empty.png");
  EXPECT_TRUE(is_valid_png(dir / "empty.png"));
}
