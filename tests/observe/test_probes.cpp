// Probes against values computed by hand on a hand-built weight, and the TensorBoard writer's
// records (lengths, CRC32C, contents) read back and checked.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/observe/probes.h"
#include "eshift/observe/tensorboard.h"
#include "test_util.h"

using namespace eshift;

namespace {
struct HandBuilt {
  torch::Tensor w = torch::tensor({{1., -1., 1., -1.}, {2., 2., 0., 0.}, {0., 0., 0., 4.}}, torch::kFloat64)
                        .requires_grad_(true);
  // the "step": filter 0 turns by π/2, filter 1 is scaled by 3, filter 2 turns by acos(−1/3) and shifts by 10
  torch::Tensor after = torch::tensor({{1., -1., -1., 1.}, {6., 6., 0., 0.}, {10., 10., 14., 10.}}, torch::kFloat64);
  torch::Tensor grad = torch::tensor({{0., 0., 0., 70000.}, {1., 2., 3., -4.}, {0., 0., 0., 0.}}, torch::kFloat64);

  ProbeRecord probe(WeightFamily family, double eps, double lr) {
    Probe probe({{"layer.weight", w, ParamRole::NormalizedWeight, family, true}}, eps);
    w.mutable_grad() = grad.clone();
    probe.before_step();
    torch::NoGradGuard no_grad;
    w.copy_(after);
    return probe.after_step(7, 2, lr);
  }
};
}  // namespace

TEST(Probes, WSLayerValuesEqualHandComputation) {
  HandBuilt h;
  auto rec = h.probe(WeightFamily::WS, /*eps=*/1.5, /*lr=*/0.1);
  ASSERT_EQ(rec.layers.size(), 1u);
  const auto& l = rec.layers[0];
  EXPECT_EQ(rec.step, 7);
  EXPECT_EQ(rec.epoch, 2);
  EXPECT_EQ(l.filters, 3);
  EXPECT_EQ(l.fan_in, 4);
  // after the step: ‖w‖ = 2, √72, √496; μ = 0, 3, 11; ‖w−μ‖² = 4, 36, 12 so σ = √(4/3), √12, 2
  EXPECT_NEAR(l.norm.min, 2.0, 1e-12);
  EXPECT_NEAR(l.norm.median, std::sqrt(72.0), 1e-12);
  EXPECT_NEAR(l.norm.max, std::sqrt(496.0), 1e-12);
  EXPECT_NEAR(l.mean.min, 0.0, 1e-12);
  EXPECT_NEAR(l.mean.median, 3.0, 1e-12);
  EXPECT_NEAR(l.mean.max, 11.0, 1e-12);
  EXPECT_NEAR(l.sigma.min, std::sqrt(4.0 / 3), 1e-12);
  EXPECT_NEAR(l.sigma.median, 2.0, 1e-12);
  EXPECT_NEAR(l.sigma.max, std::sqrt(12.0), 1e-12);
  // WS-type effective lr η/((n−1)σ²) = 0.1/4, 0.1/36, 0.1/12 → median 0.1/12
  EXPECT_NEAR(l.effective_lr, 0.1 / 12, 1e-15);
  // angles of the centered directions: π/2, 0, acos(−1/3) → median π/2
  EXPECT_NEAR(l.angular_update, M_PI / 2, 1e-12);
  // gradient of the loss, read before the step
  EXPECT_NEAR(l.grad_max_abs, 70000.0, 1e-9);
  EXPECT_NEAR(l.grad_norm, std::sqrt(70000.0 * 70000.0 + 30.0), 1e-9);
  EXPECT_NEAR(l.fp16_ratio, 70000.0 / 65504.0, 1e-12);
  EXPECT_GT(rec.fp16_ratio, 1.0);  // a float16 gradient would overflow
  // σ < ε = 1.5 for one filter of three
  EXPECT_NEAR(l.frac_sigma_below_eps, 1.0 / 3, 1e-15);
  EXPECT_NEAR(rec.sigma_min, std::sqrt(4.0 / 3), 1e-12);
}

TEST(Probes, WNLayerUsesRawNormsAndDirections) {
  HandBuilt h;
  auto rec = h.probe(WeightFamily::WN, 0.0, 0.1);
  const auto& l = rec.layers[0];
  // η/‖w‖² = 0.1/4, 0.1/72, 0.1/496 → median 0.1/72
  EXPECT_NEAR(l.effective_lr, 0.1 / 72, 1e-15);
  // raw directions: π/2, 0, acos(40/(4·√496)) → median acos(10/√496)
  EXPECT_NEAR(l.angular_update, std::acos(10.0 / std::sqrt(496.0)), 1e-12);
  EXPECT_EQ(l.frac_sigma_below_eps, 0.0);
}

TEST(Probes, SmallAnglesAreAccurate) {
  // acos would lose these to rounding; 2·asin(‖a−b‖/2) keeps them
  auto a = torch::tensor({{1.0, 0.0}}, torch::kFloat64);
  const double theta = 1e-9;
  auto b = torch::tensor({{std::cos(theta), std::sin(theta)}}, torch::kFloat64);
  EXPECT_NEAR(filter_angles(a, b).item<double>(), theta, 1e-20);
}

TEST(Probes, OnlyScaleInvariantWeightsAreWatched) {
  std::vector<ParamInfo> params = {{"conv", torch::randn({4, 2, 3, 3}), ParamRole::ConvWeight},
                                   {"fc", torch::randn({10, 4}), ParamRole::ClassifierWeight},
                                   {"gamma", torch::ones({4}), ParamRole::NormScale},
                                   {"ws", torch::randn({4, 2, 3, 3}), ParamRole::NormalizedWeight, WeightFamily::WS}};
  EXPECT_EQ(Probe(params, 1e-3).num_layers(), 2u);
  Probe p(params, 1e-3);
  EXPECT_THROW(p.after_step(1, 1, 0.1), c10::Error);  // after_step without before_step
}

TEST(TensorBoard, Crc32cMatchesTheCastagnoliCheckValue) {
  const char* check = "123456789";
  EXPECT_EQ(crc32c(check, 9), 0xE3069283u);
  const uint32_t c = crc32c(check, 9);
  EXPECT_EQ(masked_crc32c(check, 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, RecordsHaveValidFramingAndReadBack) {
  test::TempDir dir;
  std::string path;
  {
    TensorBoardWriter w(dir.path);
    path = w.path();
    w.add_scalar("train/loss", 2.5, 1);
    w.add_scalar("sigma_median/stages.0.conv1.weight", 0.0625, 50);
    w.add_scalar("lr", 0.1, 100);
  }
  EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
  // walk the framing by hand: every record is 8 + 4 + length + 4 bytes with matching masked CRCs
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t offset = 0, records = 0;
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  while (offset < bytes.size()) {
    ASSERT_LE(offset + 12, bytes.size());
    const uint64_t length = le(offset, 8);
    EXPECT_EQ(le(offset + 8, 4), masked_crc32c(bytes.data() + offset, 8));
    ASSERT_LE(offset + 16 + length, bytes.size());
    EXPECT_EQ(le(offset + 12 + length, 4), masked_crc32c(bytes.data() + offset + 12, length));
    offset += 16 + length;
    ++records;
  }
  EXPECT_EQ(offset, bytes.size());
  EXPECT_EQ(records, 4u);  // file version + 3 scalars

  auto file = read_event_file(path);
  EXPECT_EQ(file.file_version, "brain.Event:2");
  ASSERT_EQ(file.scalars.size(), 3u);
  EXPECT_EQ(file.scalars[0].tag, "train/loss");
  EXPECT_EQ(file.scalars[0].value, 2.5f);
  EXPECT_EQ(file.scalars[0].step, 1);
  EXPECT_EQ(file.scalars[1].tag, "sigma_median/stages.0.conv1.weight");
  EXPECT_EQ(file.scalars[1].value, 0.0625f);
  EXPECT_EQ(file.scalars[2].step, 100);
  EXPECT_GT(file.scalars[2].wall_time, 1.7e9);

  // damage is detected and located
  std::string damaged = bytes;
  damaged[damaged.size() - 7] ^= 0x40;
  std::ofstream(dir / "bad", std::ios::binary) << damaged;
  try {
    read_event_file(dir / "bad");
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad data CRC"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "short", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  EXPECT_THROW(read_event_file(dir / "short"), DataError);
}

TEST(TensorBoard, ARecordLengthNearTwoToThe64IsTruncationNotAnOverflow) {
  // a crafted header with a valid length CRC: length + 4 wraps to 0, which once passed the bounds check
  test::TempDir dir;
  std::string record;
  const uint64_t length = ~uint64_t(0) - 3;
  for (int i = 0; i < 8; ++i) record.push_back(static_cast<char>(length >> (8 * i)));
  const uint32_t crc = masked_crc32c(record.data(), 8);
  for (int i = 0; i < 4; ++i) record.push_back(static_cast<char>(crc >> (8 * i)));
  record += "data";
  std::ofstream(dir / "crafted", std::ios::binary) << record;
  try {
    read_event_file(dir / "crafted");
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("crafted: truncated data in the record at byte 0"), std::string::npos) << e.what();
  }
}

TEST(TensorBoard, AFileTornRightAfterARecordHeaderIsTruncationNotAnOverread) {
  // a kill just after a record's 12-byte header (valid length CRC), with 0–3 bytes of data after it
  test::TempDir dir;
  for (size_t extra = 0; extra < 4; ++extra) {
    std::string record;
    const uint64_t length = 100;
    for (int i = 0; i < 8; ++i) record.push_back(static_cast<char>(length >> (8 * i)));
    const uint32_t crc = masked_crc32c(record.data(), 8);
    for (int i = 0; i < 4; ++i) record.push_back(static_cast<char>(crc >> (8 * i)));
    record += std::string(extra, 'x');
    std::ofstream(dir / "torn", std::ios::binary | std::ios::trunc) << record;
    EXPECT_THROW(read_event_file(dir / "torn"), DataError) << extra;
  }
}
