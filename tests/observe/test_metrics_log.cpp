// A run's metrics.jsonl and TensorBoard file: one line per epoch with the task's metrics under
// train_/test_ names, probes between them, and a resume that keeps exactly the epochs the
// checkpoint holds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "eshift/observe/metrics_log.h"
#include "test_util.h"

using namespace eshift;
using eshift::test::TempDir;

namespace {
EpochRecord record(int epoch) {
  EpochRecord r;
  r.epoch = epoch;
  r.step = 10 * epoch;
  r.lr = 0.1;
  r.train.add({"loss", "loss", false}, 1.0 / epoch);
  r.train.add({"acc", "accuracy", true}, 0.5);
  r.test.add({"loss", "loss", false}, 2.0 / epoch);
  r.test.add({"acc", "accuracy", true}, 0.25);
  return r;
}

std::vector<nlohmann::json> lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string event_file(const std::string& dir) {
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos) newest = e.path();
  return newest;
}
}  // namespace

TEST(MetricsLog, EpochLinesCarryTheTasksMetricsUnderTrainAndTestNames) {
  TempDir dir;
  {
    MetricsLog log(dir.path);
    log.epoch(record(1));
    ProbeRecord probe;
    probe.step = 15;
    probe.epoch = 2;
    log.probe(probe);
    log.epoch(record(2));
  }
  const auto l = lines(dir / "metrics.jsonl");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].at("kind"), "epoch");
  EXPECT_DOUBLE_EQ(l[0].at("train_loss").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(l[0].at("test_acc").get<double>(), 0.25);
  EXPECT_EQ(l[1].at("kind"), "probe");
  EXPECT_DOUBLE_EQ(l[2].at("test_loss").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(record(2).value("train_loss"), 0.5);
  EXPECT_THROW(record(2).value("train_top5"), std::out_of_range);
  int accuracy = 0;
  for (const auto& s : read_event_file(event_file(dir.path)).scalars) accuracy += s.tag == "test/accuracy";
  EXPECT_EQ(accuracy, 2);  // TensorBoard: the metric's title, not its key
}

TEST(MetricsLog, AResumeKeepsTheEpochsTheCheckpointHoldsAndDropsATornLine) {
  TempDir dir;
  {
    MetricsLog log(dir.path);
    for (int e = 1; e <= 3; ++e) log.epoch(record(e));
  }
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"kind\":\"epo";  // a crash mid-line
  {
    MetricsLog resumed(dir.path, /*resume_after_epoch=*/2);
    resumed.epoch(record(3));
  }
  const auto l = lines(dir / "metrics.jsonl");
  ASSERT_EQ(l.size(), 3u);
  for (int e = 0; e < 3; ++e) EXPECT_EQ(l[e].at("epoch").get<int>(), e + 1);
}

TEST(MetricsLog, AScalarOfZeroIsWrittenAndReadBackAsTensorBoardReadsIt) {
  // proto3 leaves a plain float at 0.0 out of the record, and TensorBoard then drops the scalar;
  // simple_value sits in a oneof (as in TensorFlow's summary.proto) so that 0 is written
  TempDir dir;
  {
    TensorBoardWriter tb(dir.path);
    tb.add_scalar("probe/zero", 0.0, 7);
    tb.add_scalar("probe/minus_zero", -0.0, 7);
    tb.add_scalar("probe/one", 1.0, 7);
    tb.flush();
  }
  std::map<std::string, float> read;
  for (const auto& s : read_event_file(event_file(dir.path)).scalars) read[s.tag] = s.value;
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read.at("probe/zero"), 0.0f);
  EXPECT_TRUE(std::signbit(read.at("probe/minus_zero")));
  EXPECT_EQ(read.at("probe/one"), 1.0f);
}
