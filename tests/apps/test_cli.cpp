// The eshift binary end to end: bad input gives one line on stderr, a non-zero exit and writes
// nothing; a short real run on Fashion-MNIST lowers the loss, writes metrics.jsonl, and a run
// stopped and resumed from its checkpoint ends with the same weights as an uninterrupted one.
#include <gtest/gtest.h>

#include "cli_util.h"
#include "eshift/core/torch_compat.h"
#include "eshift/observe/tensorboard.h"
#include "eshift/train/config.h"

#include <algorithm>
#include <regex>
#include <set>

using namespace eshift;
using namespace eshift::test;


TEST(Cli, ImpossibleValuesGiveOneLineErrorAndWriteNothing) {
  TempDir dir;
  const std::string out = " --out " + (dir / "run");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train --lr -0.1" + out, "--lr"},
      {"train --mineps -1e-3 --el2" + out, "--mineps"},
      {"train --wd -1" + out, "--wd"},
      {"train --model resnet7" + out, "unknown model 'resnet7'"},
      {"train --model vgg16" + out, "unknown model 'vgg16'"},
      {"train --wnorm bogus" + out, "unknown weight normalization 'bogus'"},
      {"train --norm ln" + out, "--norm"},
      {"train --batch-size 1" + out, "--batch-size"},
      {"train --epochs 0" + out, "--epochs"},
      {"train --data-dir " + (dir / "no-such-dir") + out, "no-such-dir: data directory does not exist"},
      {"train --data " + (dir / "no-such-dir") + out, "no-such-dir: data directory does not exist"},  // old spelling
      {"train --data cifar-1000" + out, "unknown --data 'cifar-1000' (known: fashion-mnist"},
      {"train --amp fp8" + out, "unknown --amp 'fp8'"},
      {"bench --amp fp32", "unknown --amp 'fp32'"},
      {"train --device tpu" + out, "--device"},
      {"train --nesterov --momentum 0" + out, "--nesterov"},
      {"bench --image 3x32" , "--image"},
      {"bench --reg l3", "unknown --reg"},
      {"bench --probe-every -1", "--probe-every"},
      {"eval --checkpoint " + (dir / "missing.pt"), "missing.pt: no such checkpoint file"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(args);
    expect_one_line_error(run(args), needle);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "run")) << "a failed command created its output directory";
  // syntax errors are one line too
  auto r = run("train --epochs many");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, CorruptDataFilesAreNamed) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"})
    std::filesystem::copy_file(std::string(ESHIFT_FASHION_MNIST) + "/" + name, dir / name);
  // a truncated copy of the test labels
  const auto labels = dir / "t10k-labels-idx1-ubyte.gz";
  std::filesystem::resize_file(labels, std::filesystem::file_size(labels) / 2);
  auto r = run("train --data-dir " + dir.path + " --out " + (dir / "run"));
  expect_one_line_error(r, "t10k-labels-idx1-ubyte.gz");
  EXPECT_FALSE(std::filesystem::exists(dir / "run"));
}

TEST(Cli, ShortRunLowersTheLossAndWritesMetrics) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  auto r = run(kQuick + " --epochs 3 --cos --el2 --nowd-conv --probe-every 5 --out " + (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("decay policy"), std::string::npos);
  EXPECT_NE(r.out.find("eps-l2[ws]"), std::string::npos) << r.out;
  auto m = metrics(dir / "run");
  ASSERT_EQ(m.size(), 3u);
  for (const char* key : {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"})
    EXPECT_TRUE(m[0].contains(key)) << key;
  EXPECT_EQ(m[2]["epoch"].get<int>(), 3);
  // cosine over the 3 epochs of the run: lr_e = 0.05·½(1 + cos(π·e/3))
  for (int e = 0; e < 3; ++e)
    EXPECT_NEAR(m[e]["lr"].get<double>(), 0.05 * 0.5 * (1 + std::cos(M_PI * e / 3)), 1e-12) << e;
  EXPECT_LT(m[2]["train_loss"].get<double>(), m[0]["train_loss"].get<double>());
  EXPECT_LT(m[2]["train_loss"].get<double>(), std::log(10.0));  // better than chance
  EXPECT_TRUE(std::filesystem::exists(dir / "run/checkpoint.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "run/config.json"));
  // probes every 5 steps of 10 per epoch: steps 5, 10, …, 30, each with the 9 convs of resnet8
  auto probes = metrics(dir / "run", "probe");
  ASSERT_EQ(probes.size(), 6u);
  EXPECT_EQ(probes[0]["step"].get<int>(), 5);
  EXPECT_EQ(probes[0]["layers"].size(), 9u);
  EXPECT_GT(probes[0]["layers"][0]["effective_lr"].get<double>(), 0.0);
  // the TensorBoard file beside it holds the same epochs
  std::string event_file;
  for (const auto& e : std::filesystem::directory_iterator(dir / "run"))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) event_file = e.path();
  ASSERT_FALSE(event_file.empty());
  auto events = read_event_file(event_file);
  int test_acc = 0;
  for (const auto& s : events.scalars) {
    if (s.tag == "test/accuracy") {
      EXPECT_FLOAT_EQ(s.value, m[test_acc++]["test_acc"].get<float>());
    }
  }
  EXPECT_EQ(test_acc, 3);

  // eval reproduces the last test accuracy from the checkpoint
  auto e = run("eval --data-dir " + std::string(ESHIFT_FASHION_MNIST) + " --test-subset 200 --checkpoint " +
               (dir / "run/checkpoint.pt"));
  ASSERT_EQ(e.code, 0) << e.err;
  char expected[64];
  std::snprintf(expected, sizeof expected, "top-1 %.2f%%", 100 * m[2]["test_acc"].get<double>());
  EXPECT_NE(e.out.find(expected), std::string::npos) << e.out << " vs " << expected;

  // a new run into the same directory is refused (nothing overwritten)
  auto again = run(kQuick + " --epochs 1 --out " + (dir / "run"));
  expect_one_line_error(again, "--resume");
  EXPECT_EQ(metrics(dir / "run").size(), 3u);
}

TEST(Cli, ResumedRunEndsWithTheSameWeights) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string flags = kQuick + " --el2 --nowd-conv --momentum 0.9";
  auto whole = run(flags + " --epochs 3 --out " + (dir / "whole"));
  ASSERT_EQ(whole.code, 0) << whole.err;
  auto first = run(flags + " --epochs 1 --out " + (dir / "split"));
  ASSERT_EQ(first.code, 0) << first.err;
  auto rest = run(flags + " --epochs 3 --resume --resume-override epochs --out " + (dir / "split"));
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_NE(rest.out.find("resumed from"), std::string::npos);
  auto a = checkpoint_weights(dir / "whole/checkpoint.pt");
  auto b = checkpoint_weights(dir / "split/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
  EXPECT_EQ(metrics(dir / "split").size(), 3u);
  EXPECT_EQ(metrics(dir / "split")[2]["train_loss"], metrics(dir / "whole")[2]["train_loss"]);

  // a checkpoint from another model is refused with one line
  auto other = run("train" + kData + " --model resnet14 --train-subset 320 --batch-size 32 --epochs 4 --resume --out " +
                   (dir / "split"));
  expect_one_line_error(other, "model.name \"resnet8\" → \"resnet14\"");
  // a corrupt checkpoint too
  std::ofstream(dir / "bad.pt") << "not a checkpoint";
  expect_one_line_error(run("eval --checkpoint " + (dir / "bad.pt")), "bad.pt: not a readable checkpoint");
}

TEST(Cli, MixedPrecisionRunsOnCpuInBfloat16) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  auto r = run(kQuick + " --epochs 1 --amp bf16");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mixed bfloat16"), std::string::npos) << r.out;
  if (!compat::kCpuAutocastFloat16)
    expect_one_line_error(run(kQuick + " --epochs 1 --amp fp16"), "--amp fp16 on CPU needs a LibTorch newer");
}

TEST(Cli, WdAllWarnsAboutTheNowdFlagsItOverrides) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  auto r = run("train" + kData + " --model resnet8 --train-subset 64 --test-subset 32 --batch-size 32 --epochs 1"
               " --wd-all --nowd-bn --nowd-fc");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("eshift: warning: --wd-all decays every parameter; --nowd-bn is overridden\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("eshift: warning: --wd-all decays every parameter; --nowd-fc is overridden\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--nowd-conv"), std::string::npos) << r.err;  // not given, not named
}

TEST(Cli, BenchPrintsWhatItRunsOnFirstAndThroughputLast) {
  // --profile too: LibTorch 2.x's profiler crashed when it was enabled without being prepared
  auto r = run("bench --model resnet8 --batch-size 8 --image 1x16x16 --steps 2 --warmup 1 --reg el2 --profile");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("  aten::convolution_backward\n"), std::string::npos) << r.out;  // a row of the profile
  // first what it ran on (the LibTorch of the headers it was built with), last the throughput
  EXPECT_EQ(r.out.rfind(std::string("runtime: LibTorch ") + TORCH_VERSION + " (oneDNN ", 0), 0u) << r.out;
  auto last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  ASSERT_EQ(last.rfind("throughput: ", 0), 0u) << r.out;
  EXPECT_GT(std::stod(last.substr(12)), 0.0);
  EXPECT_NE(last.find(" img/s"), std::string::npos);
}

TEST(Cli, PlainL2DrivingSigmaBelowEpsWarnsAndTheEpsShiftDoesNot) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  // the demo's collapse setting, smaller: strong decay on the conv weights only (λ = 0.05 at rate 0.1),
  // threshold ε = 0.02
  const std::string flags = "train" + kData + " --model resnet8 --train-subset 640 --test-subset 200 --batch-size 32 "
                            "--lr 0.1 --seed 11 --epochs 3 --probe-every 5 --nowd-bn --nowd-fc --mineps 0.02 --no-flip "
                            "--crop-padding 0";
  auto plain = run(flags + " --wd 0.05 --out " + (dir / "plain"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  const auto at = plain.out.find("warning: σ collapse");
  ASSERT_NE(at, std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("have σ below 0.02", at), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("--el2 --mineps 0.02", at), std::string::npos) << plain.out;
  const auto m = metrics(dir / "plain");
  EXPECT_GT(m.back()["sigma_below_share"].get<double>(), 0.05) << m.back().dump();
  EXPECT_EQ(m.back()["sigma_threshold"].get<double>(), 0.02);
  auto shifted = run(flags + " --wd 0 --el2 --lam 0.05 --out " + (dir / "shifted"));
  ASSERT_EQ(shifted.code, 0) << shifted.err;
  EXPECT_EQ(shifted.out.find("σ collapse"), std::string::npos) << shifted.out;
  EXPECT_LT(metrics(dir / "shifted").back()["sigma_below_share"].get<double>(), 0.05);
  // the suite's ordinary runs (kQuick's decay) do not warn either
  auto ordinary = run(kQuick + " --epochs 2 --el2 --nowd-conv --probe-every 5");
  ASSERT_EQ(ordinary.code, 0) << ordinary.err;
  EXPECT_EQ(ordinary.out.find("σ collapse"), std::string::npos) << ordinary.out;
}

TEST(Cli, MinepsAutoChoosesEpsAfterTheFirstEpochAndAResumeKeepsIt) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir dir;
  const std::string flags = kQuick + " --el2 --nowd-conv --lam 0.05 --mineps auto --probe-every 0";
  auto whole = run(flags + " --epochs 3 --out " + (dir / "whole"));
  ASSERT_EQ(whole.code, 0) << whole.err;
  EXPECT_NE(whole.out.find("--mineps auto: ε per layer from "), std::string::npos) << whole.out;
  const auto config = nlohmann::json::parse(slurp(dir / "whole/config.json"));
  EXPECT_TRUE(config["mineps_auto"].get<bool>());
  // one ε per ε-shifted conv of resnet8 (9), "mineps" the smallest of them
  const auto& layers = config["mineps_layers"];
  ASSERT_EQ(layers.size(), 9u) << config.dump();
  double smallest = 1;
  for (const auto& [layer, eps] : layers.items()) {
    EXPECT_GT(eps.get<double>(), 0) << layer;
    smallest = std::min(smallest, eps.get<double>());
  }
  const double stored = config["mineps"].get<double>();
  EXPECT_EQ(stored, smallest);
  EXPECT_EQ(nlohmann::json::parse(read_checkpoint_info(dir / "whole/checkpoint.pt").config_json)["mineps_layers"], layers);
  // killed in epoch 2, resumed with the same flags: the same ε, the same weights
  EXPECT_EQ(run(flags + " --epochs 3 --out " + (dir / "split"), "ESHIFT_KILL_AT='step#15'").code, 137);
  auto rest = run(flags + " --epochs 3 --resume --out " + (dir / "split"));
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_EQ(rest.out.find("--mineps auto: ε per layer"), std::string::npos) << "chosen again on resume: " << rest.out;
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "split/config.json"))["mineps_layers"], layers);
  const auto a = checkpoint_weights(dir / "whole/checkpoint.pt"), b = checkpoint_weights(dir / "split/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
  // a resume may not turn auto into a fixed ε unnoticed
  expect_one_line_error(run(kQuick + " --el2 --nowd-conv --lam 0.05 --mineps 0.001 --probe-every 0 --epochs 4 --resume "
                                     "--resume-override epochs --out " + (dir / "whole")),
                        "mineps_auto true → false");
  expect_one_line_error(run(kQuick + " --mineps auto"), "--mineps auto chooses the ε of the ε-shifted L2: it needs --el2");
  expect_one_line_error(run(kQuick + " --el2 --mineps 1e-3x"), "--mineps must be a number or auto, got '1e-3x'");
}

// A setting is declared once in config.cpp's settings() (config.json, the resume comparison); its
// flag is written in flags.cpp or train.cpp. Every setting a user chooses must have one: a setting
// added to the table without its flag would be one no run could change.
TEST(Cli, EverySettingOfConfigJsonHasItsTrainFlag) {
  const Result help = run("train --help");
  ASSERT_EQ(help.code, 0) << help.err;
  // set otherwise: hflip by --no-flip, dist_overlap by --no-dist-overlap, mineps_auto by --mineps
  // auto; chosen or kept by the run itself: mineps_layers (--mineps auto's choice), history
  const std::set<std::string> other = {"hflip", "dist_overlap", "mineps_auto", "mineps_layers", "history"};
  int checked = 0;
  for (auto name : setting_names(TrainConfig{}.to_json())) {
    if (name.find('.') != std::string::npos || other.count(name)) continue;  // model.*: the model's flags
    std::replace(name.begin(), name.end(), '_', '-');
    EXPECT_TRUE(std::regex_search(help.out, std::regex("--" + name + "([^a-z0-9-]|$)"))) << "--" << name << " is not a flag of train";
    ++checked;
  }
  EXPECT_GT(checked, 50);
  EXPECT_NE(help.out.find("--no-flip"), std::string::npos);
  EXPECT_NE(help.out.find("--no-dist-overlap"), std::string::npos);
}
