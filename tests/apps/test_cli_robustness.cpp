// Nothing lost, nothing silently wrong, tried on the eshift binary as a hostile user would:
// kill -9 at every point of a run (inside the checkpoint write too) and resume bit-identically;
// a full disk is a one-line error that keeps the run's files; a damaged checkpoint is refused and
// an intact older one named; SIGTERM/SIGINT exit 143/130 after the checkpoint; values that cannot
// work are refused naming their flag, before anything is written.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_util.h"
#include "eshift/train/run_checkpoints.h"

using namespace eshift;
using namespace eshift::test;

namespace {
// kQuick without its --lr (a flag given twice is a syntax error).
const std::string kBase = "train" + kData + " --model resnet8 --train-subset 320 --test-subset 200 --batch-size 32 --seed 11";
// resnet8 on 320 images, 10 steps an epoch, 3 epochs, the ε-shift on the convs.
const std::string kRun = kQuick + " --el2 --nowd-conv --epochs 3 --probe-every 0";

std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tmp") out.push_back(e.path().filename());
  return out;
}

void flip_byte(const std::string& path, size_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x10));
}
}  // namespace

TEST(CliRobustness, KillNineAnywhereThenResumeEndsWithTheWeightsOfAnUninterruptedRun) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  auto whole = run(kRun + " --out " + (dir / "whole"));
  ASSERT_EQ(whole.code, 0) << whole.err;
  const auto expected = checkpoint_weights(dir / "whole/checkpoint.pt");
  const auto expected_metrics = metrics(dir / "whole");
  // core/fault_injection.h names the points; #K: the K-th time through it
  const std::vector<std::string> points = {
      "before-rename:config.json",           // before anything was trained
      "step#7",                              // inside epoch 1
      "step#15",                             // inside epoch 2
      "before-link:checkpoint.pt#1",         // epoch 1's file complete, checkpoint.pt not yet made
      "writing:checkpoint-epoch2.pt",        // inside the checkpoint write: header written, archive not
      "before-rename:checkpoint-epoch2.pt",  // inside the checkpoint write: the temporary is complete
      "after-rename:checkpoint-epoch2.pt",   // the epoch's file in place, not yet synced nor linked
      "after-link:checkpoint.pt#2",          // checkpoint.pt replaced, older ones not yet removed
      "before-checkpoint#2",                 // metrics line written, checkpoint not
      "before-rename:metrics.jsonl",         // in the resume itself: rewriting metrics.jsonl
  };
  int kills = 0;
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    const std::string out = dir / ("killed-" + std::to_string(kills));
    const std::string env = "ESHIFT_KILL_AT='" + point + "'";
    Result killed;
    if (point.rfind("before-rename:metrics", 0) == 0) {  // a run that stopped after epoch 1, killed while resuming
      ASSERT_EQ(run(kQuick + " --el2 --nowd-conv --epochs 1 --probe-every 0 --out " + out).code, 0);
      killed = run(kRun + " --resume --resume-override epochs --out " + out, env);
    } else {
      killed = run(kRun + " --out " + out, env);
    }
    ASSERT_EQ(killed.code, 128 + 9) << killed.err;
    ++kills;
    // one resume finishes the run, as a user would do it; a run killed before its first checkpoint
    // is started again
    const bool has_checkpoint = !RunCheckpoints(out, 2).epochs().empty();
    const auto r = run(kRun + (has_checkpoint ? " --resume --resume-override epochs" : "") + " --out " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto got = checkpoint_weights(out + "/checkpoint.pt");
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expected[i])) << "tensor " << i;
    const auto m = metrics(out);
    ASSERT_EQ(m.size(), 3u);
    for (size_t e = 0; e < 3; ++e) EXPECT_EQ(m[e]["train_loss"], expected_metrics[e]["train_loss"]) << e;
    EXPECT_TRUE(temporaries(out).empty());
    EXPECT_EQ(RunCheckpoints(out, 2).epochs().size(), 2u);  // --keep-checkpoints 2
  }
  EXPECT_EQ(kills, static_cast<int>(points.size()));
}

TEST(CliRobustness, AFullDiskIsOneLineAndKeepsTheRunsFiles) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  // a new run on a disk that fills up at once
  auto fresh = run(kRun + " --out " + (dir / "fresh"), "ESHIFT_FAIL_WRITES_AFTER=0");
  expect_one_line_error(fresh, "no space left on device writing " + (dir / "fresh/"));
  EXPECT_EQ(fresh.code, 1);
  if (std::filesystem::exists(dir / "fresh")) EXPECT_TRUE(temporaries(dir / "fresh").empty());

  // a run of one epoch, resumed on a full disk: its config, metrics and checkpoint stay as they were
  const std::string one = kQuick + " --el2 --nowd-conv --epochs 1 --probe-every 0 --out " + (dir / "run");
  ASSERT_EQ(run(one).code, 0);
  const auto config = slurp(dir / "run/config.json"), lines = slurp(dir / "run/metrics.jsonl");
  const auto checkpoint = slurp(dir / "run/checkpoint.pt");
  const std::string resume = kRun + " --resume --resume-override epochs --out " + (dir / "run");
  // the budgets run out in the metrics rewrite, in config.json (after metrics and TensorBoard's first
  // record), and in the epoch-2 checkpoint
  const auto after_metrics = std::to_string(lines.size() + 200);
  for (const auto& [budget, file] : std::vector<std::pair<std::string, std::string>>{
           {"0", "metrics.jsonl"}, {after_metrics, "config.json"}, {"100000", "checkpoint-epoch2.pt"}}) {
    SCOPED_TRACE(budget);
    auto r = run(resume, "ESHIFT_FAIL_WRITES_AFTER=" + budget);
    expect_one_line_error(r, "no space left on device writing " + (dir / "run/") + file);
    EXPECT_EQ(slurp(dir / "run/checkpoint.pt"), checkpoint);
    if (budget != "100000") {
      EXPECT_EQ(slurp(dir / "run/metrics.jsonl"), lines);
      EXPECT_EQ(slurp(dir / "run/config.json"), config);
    } else {  // epoch 2's line came before its checkpoint (the resume drops it and computes it again)
      EXPECT_EQ(slurp(dir / "run/metrics.jsonl").rfind(lines, 0), 0u);
    }
    EXPECT_TRUE(temporaries(dir / "run").empty());
  }
  // with space again the run goes on
  auto r = run(resume);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(metrics(dir / "run").size(), 3u);
}

TEST(CliRobustness, ADamagedCheckpointIsRefusedAndAnIntactOlderOneNamed) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string two = kQuick + " --epochs 2 --probe-every 0 --out " + (dir / "run");
  ASSERT_EQ(run(two).code, 0);
  const auto latest = dir / "run/checkpoint.pt";
  flip_byte(latest, std::filesystem::file_size(latest) / 2);
  const auto older = dir / "run/checkpoint-epoch1.pt";
  auto r = run(kQuick + " --epochs 3 --probe-every 0 --resume --resume-override epochs --out " + (dir / "run"));
  expect_one_line_error(r, latest + ": damaged checkpoint (checksum mismatch); " + older +
                               " is intact: continue from it with --resume-from " + older);
  expect_one_line_error(run("eval --checkpoint " + latest), "damaged checkpoint");
  // a resume that changes the run's meaning is refused before anything is loaded or written
  auto changed = run(kBase + " --epochs 2 --lr 0.1 --probe-every 0 --resume-from " + older + " --out " + (dir / "run"));
  expect_one_line_error(changed, "--resume would change the run's settings: lr 0.05 → 0.1");
  auto from = run(kQuick + " --epochs 3 --probe-every 0 --resume-from " + older + " --resume-override epochs --out " +
                  (dir / "run"));
  ASSERT_EQ(from.code, 0) << from.err;
  EXPECT_NE(from.out.find("resumed from " + older + " after epoch 1; changed: epochs 2 → 3"), std::string::npos) << from.out;
  const auto m = metrics(dir / "run");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2]["epoch"], 3);
  const auto history = nlohmann::json::parse(slurp(dir / "run/config.json"))["history"];
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["resumed_after_epoch"], 1);
  EXPECT_NO_THROW(verify_checkpoint(latest));
}

TEST(CliRobustness, SigtermAndSigintExitWith143And130AfterTheCheckpoint) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  for (const auto& [signal, code] : {std::pair<std::string, int>{"TERM", 143}, {"INT", 130}}) {
    const std::string out = dir / signal;
    // the signal arrives once the first epoch's checkpoint is written (at most 300 s of waiting, for
    // slow sanitizer builds)
    const std::string script = std::string(ESHIFT_BINARY) + " " + kQuick + " --epochs 200 --probe-every 0 --threads 2 --out " +
                               out + " > " + out + ".log 2>&1 & pid=$!; i=0; while [ ! -e " + out +
                               "/checkpoint.pt ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done; kill -" +
                               signal + " $pid; wait $pid; echo $? > " + out + ".status";
    std::system(("sh -c '" + script + "'").c_str());
    EXPECT_EQ(std::stoi(slurp(out + ".status")), code) << signal << ": " << slurp(out + ".log");
    EXPECT_NE(slurp(out + ".log").find("interrupted in epoch"), std::string::npos) << slurp(out + ".log");
    EXPECT_NO_THROW(verify_checkpoint(out + "/checkpoint.pt"));
    EXPECT_EQ(read_checkpoint_info(out + "/checkpoint.pt").epoch, static_cast<int64_t>(metrics(out).size()));
  }
}

TEST(CliRobustness, ValuesThatCannotWorkAreRefusedNamingTheirFlagBeforeAnythingIsWritten) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string out = " --out " + (dir / "run");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kBase + " --lr 1e39" + out, "--lr 1e+39 does not fit a float32"},
      {kQuick + " --el2 --mineps 1e39" + out, "--mineps 1e+39 does not fit a float32"},
      {kQuick + " --mineps 5" + out, "--mineps (ε) must be < 1"},
      {kQuick + " --momentum 5" + out, "--momentum must be in [0, 1)"},
      {kBase + " --lr 2 --wd 0.6" + out, "--lr × --wd must be < 1"},
      {kQuick + " --norm gn --gn-groups 7" + out, "--gn-groups 7 must divide --width 16"},
      {kQuick + " --epochs 10 --schedule 10" + out, "--schedule milestone 10 must be below --epochs 10"},
      {kQuick + " --epochs 3 --warmup 5" + out, "--warmup 5 must be shorter than --epochs 3"},
      {kQuick + " --crop-padding 1000" + out, "--crop-padding 1000 must be smaller than the images (1x28x28)"},
      {"train" + kData + " --model resnet8 --train-subset 100000" + out, "--train-subset 100000 is more than the 60000"},
      {kQuick + " --threads 100000" + out, "--threads 100000 is more than 4×"},
      {kQuick + " --keep-checkpoints 0" + out, "--keep-checkpoints must be >= 1"},
      {kQuick + " --on-nonfinite ignore" + out, "unknown --on-nonfinite 'ignore'"},
      {kQuick + " --resume-override lr" + out, "--resume-override needs --resume"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(args);
    expect_one_line_error(run(args), needle);
  }
  auto seed = run(kQuick + " --seed -1" + out);  // was silently read as 2^64 − 1
  EXPECT_EQ(seed.code, 2);
  EXPECT_NE(seed.err.find("--seed"), std::string::npos) << seed.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "a refused command created its output directory";
}

TEST(CliRobustness, ANonFiniteLossStopsOrIsSkippedAsAsked) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  // lr 1e30 without decay: the classifier's weights explode within a few steps
  auto stop = run(kBase + " --lr 1e30 --wd 0 --epochs 1 --probe-every 0");
  expect_one_line_error(stop, "training diverged: the loss is not finite");
  auto skip = run(kBase + " --lr 1e30 --wd 0 --epochs 3 --probe-every 0 --on-nonfinite skip");
  expect_one_line_error(skip, "(20 steps in a row)");
  EXPECT_NE(skip.out.find("skipped: the loss is not finite"), std::string::npos) << skip.out;
}

TEST(CliRobustness, OneRunPerDirectoryWhileItLivesAndNoStaleLockAfterItIsKilled) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string out = dir / "run";
  const std::string flags = kQuick + " --epochs 200 --probe-every 0 --threads 1 --out " + out;
  // the first run, in the background until its first checkpoint is written
  const std::string start = std::string(ESHIFT_BINARY) + " " + flags + " > " + (dir / "first.log") + " 2>&1 & echo $! > " +
                            (dir / "pid") + "; i=0; while [ ! -e " + out + "/checkpoint.pt ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done";
  std::system(("sh -c '" + start + "'").c_str());
  const std::string pid = slurp(dir / "pid").substr(0, slurp(dir / "pid").find('\n'));
  ASSERT_TRUE(std::filesystem::exists(out + "/checkpoint.pt")) << slurp(dir / "first.log");
  // a second run, and a resume, on the same directory are refused naming the holder
  expect_one_line_error(run(flags), out + " is in use by another run (pid " + pid + " on host ");
  expect_one_line_error(run(flags + " --resume"), out + " is in use by another run (pid " + pid + " on host ");
  // reading it is fine
  const auto eval = run("eval --checkpoint " + out + "/checkpoint.pt" + kData + " --test-subset 100");
  EXPECT_EQ(eval.code, 0) << eval.err;
  // kill -9: the kernel releases the lock; the next run meets the run, not the lock
  std::system(("kill -9 " + pid + "; while kill -0 " + pid + " 2>/dev/null; do sleep 0.05; done").c_str());
  expect_one_line_error(run(flags), out + " already holds a run (checkpoint.pt): use --resume");
}

TEST(CliRobustness, UnderTorchrunRestartsTheSameCommandContinuesTheRun) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  ASSERT_EQ(run(kRun + " --out " + (dir / "whole")).code, 0);
  const std::string restarted = kRun + " --out " + (dir / "run");
  EXPECT_EQ(run(restarted, "ESHIFT_KILL_AT='step#15'").code, 137);  // killed in epoch 2
  // torchrun --max-restarts starts the same command again, with TORCHELASTIC_RESTART_COUNT=1
  expect_one_line_error(run(restarted), "already holds a run");
  const auto r = run(restarted, "TORCHELASTIC_RESTART_COUNT=1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("torchrun restart 1: continuing the run in " + (dir / "run") + " from its checkpoint"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resumed from "), std::string::npos) << r.out;
  const auto a = checkpoint_weights(dir / "whole/checkpoint.pt"), b = checkpoint_weights(dir / "run/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "tensor " << i;
  // a restart before the first checkpoint starts the run afresh
  TempDir early;
  const std::string short_run = kQuick + " --epochs 1 --probe-every 0 --out " + (early / "run");
  EXPECT_EQ(run(short_run, "ESHIFT_KILL_AT='step#3'").code, 137);
  const auto fresh = run(short_run, "TORCHELASTIC_RESTART_COUNT=1");
  ASSERT_EQ(fresh.code, 0) << fresh.err;
  EXPECT_EQ(fresh.out.find("torchrun restart"), std::string::npos) << fresh.out;
  EXPECT_EQ(metrics(early / "run").size(), 1u);
}
