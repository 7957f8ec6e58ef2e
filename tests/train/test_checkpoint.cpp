// Checkpoints: what they restore (parameters, buffers, momentum, the CPU generator) and how every
// problem is reported (one line naming the file; a failed write keeps the old checkpoint).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "eshift/nn/param_roles.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/core/checksum.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/run_checkpoints.h"
#include "test_util.h"

using namespace eshift;
using eshift::test::TempDir;

namespace {
ModelSpec tiny_spec() {
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 4;
  spec.in_channels = 1;
  spec.num_classes = 3;
  return spec;
}

// A model that has taken one momentum step, so its optimizer holds momentum buffers.
struct Trained {
  std::shared_ptr<Model> model;
  std::unique_ptr<RegularizedSGD> optimizer;
};
Trained trained(const ModelSpec& spec) {
  torch::manual_seed(1);
  Trained t{build_model(spec), nullptr};
  t.optimizer = std::make_unique<RegularizedSGD>(DecayPolicy(DecayFlags{}).group(describe_parameters(*t.model)),
                                                 RegularizedSGDOptions(0.1).momentum(0.9));
  t.model->forward(torch::randn({4, 1, 8, 8})).sum().backward();
  t.optimizer->step();
  return t;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no CheckpointError";
}
}  // namespace

TEST(Checkpoint, RestoresParametersBuffersMomentumAndTheGenerator) {
  TempDir dir;
  const auto path = dir / "checkpoint.pt";
  auto a = trained(tiny_spec());
  save_checkpoint(path, *a.model, a.optimizer.get(), {tiny_spec(), 7, "{\"lr\":0.1}", {0.25}, {0.5}});
  const auto after_save = torch::rand({5});  // the generator as saved, one draw on

  auto b = trained(tiny_spec());
  torch::NoGradGuard no_grad;
  for (auto& p : b.model->parameters()) p.add_(1.0);  // differ from a
  const auto info = load_checkpoint(path, *b.model, b.optimizer.get(), tiny_spec(), torch::kCPU);
  EXPECT_EQ(info.epoch, 7);
  EXPECT_EQ(info.config_json, "{\"lr\":0.1}");
  EXPECT_EQ(info.input_mean, std::vector<double>{0.25});
  EXPECT_TRUE(torch::equal(torch::rand({5}), after_save));
  const auto pa = a.model->parameters(), pb = b.model->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
  const auto ba = a.model->buffers(), bb = b.model->buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << i;
  // one more identical step from each: equal only if the momentum buffers were restored
  for (auto* t : {&a, &b}) {
    torch::AutoGradMode grad(true);
    torch::manual_seed(2);
    t->optimizer->zero_grad();
    t->model->forward(torch::randn({4, 1, 8, 8})).sum().backward();
    t->optimizer->step();
  }
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "after a step, " << i;
  EXPECT_EQ(read_checkpoint_info(path).spec, tiny_spec());
}

TEST(Checkpoint, ProblemsAreOneLineNamingTheFile) {
  TempDir dir;
  auto a = trained(tiny_spec());
  const auto path = dir / "checkpoint.pt";
  save_checkpoint(path, *a.model, nullptr, {tiny_spec(), 1, "{}", {0.0}, {1.0}});
  auto other = tiny_spec();
  other.name = "resnet14";
  auto b = build_model(other);
  const auto wrong = error_of([&] { load_checkpoint(path, *b, nullptr, other, torch::kCPU); });
  EXPECT_NE(wrong.find(path + ": checkpoint is for model"), std::string::npos) << wrong;
  EXPECT_NE(error_of([&] { read_checkpoint_info(dir / "absent.pt"); }).find("absent.pt: no such checkpoint file"),
            std::string::npos);
  std::ofstream(dir / "garbage.pt") << "not a zip";
  const auto garbage = error_of([&] { read_checkpoint_info(dir / "garbage.pt"); });
  EXPECT_NE(garbage.find("garbage.pt: not a readable checkpoint"), std::string::npos) << garbage;
  EXPECT_EQ(garbage.find('\n'), std::string::npos) << garbage;
}

TEST(Checkpoint, AFailedWriteKeepsWhatWasThereAndLeavesNoTemporaryFile) {
  TempDir dir;
  auto a = trained(tiny_spec());
  // the archive is written to "<path>.tmp", but renaming it over a non-empty directory fails
  const auto path = dir / "occupied";
  std::filesystem::create_directories(path);
  std::ofstream(path + "/keep") << "x";
  const auto message = error_of([&] { save_checkpoint(path, *a.model, nullptr, {tiny_spec(), 1, "{}", {0.0}, {1.0}}); });
  EXPECT_NE(message.find("cannot write " + path), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_TRUE(std::filesystem::exists(path + "/keep"));
  const auto missing_dir = dir / "no-such-dir/checkpoint.pt";
  EXPECT_NE(error_of([&] { save_checkpoint(missing_dir, *a.model, nullptr, {tiny_spec(), 1, "{}", {0.0}, {1.0}}); })
                .find(missing_dir),
            std::string::npos);
}

namespace {
std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void put_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}
}  // namespace

TEST(Checkpoint, TheFileCarriesItsFormatLengthAndChecksum) {
  TempDir dir;
  auto a = trained(tiny_spec());
  const auto path = dir / "checkpoint.pt";
  save_checkpoint(path, *a.model, a.optimizer.get(), {tiny_spec(), 3, "{}", {0.0}, {1.0}});
  const auto bytes = bytes_of(path);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), "ESHIFTCK");
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  EXPECT_EQ(le(8, 4), kCheckpointFormat);
  EXPECT_EQ(le(16, 8), bytes.size() - 24);
  EXPECT_EQ(le(12, 4), crc32c(bytes.data() + 24, bytes.size() - 24));
  EXPECT_EQ(bytes.substr(24, 2), "PK");  // LibTorch's zip archive follows
}

TEST(Checkpoint, AnyDamageIsRefusedWithOneLineNamingTheFile) {
  TempDir dir;
  auto a = trained(tiny_spec());
  const auto good = dir / "good.pt";
  save_checkpoint(good, *a.model, a.optimizer.get(), {tiny_spec(), 3, "{}", {0.0}, {1.0}});
  const auto bytes = bytes_of(good);
  // where the tensors are: the largest stored entry's data sits in the middle of the archive
  struct Damage {
    std::string what, bytes, expected;
  };
  std::vector<Damage> damages;
  for (size_t at : {size_t(8), size_t(13), size_t(17), size_t(30), bytes.size() / 2, bytes.size() - 30}) {
    for (int bit : {0, 7}) {
      auto flipped = bytes;
      flipped[at] = static_cast<char>(flipped[at] ^ (1 << bit));
      const char* expected = at < 12 ? "checkpoint format" : at < 16 ? "checksum mismatch" : at < 24 ? "truncated or damaged" : "checksum mismatch";
      damages.push_back({"bit " + std::to_string(bit) + " of byte " + std::to_string(at), flipped, expected});
    }
  }
  for (size_t keep : {size_t(10), size_t(24), bytes.size() / 2, bytes.size() - 1})
    damages.push_back({"truncated to " + std::to_string(keep), bytes.substr(0, keep),
                       keep < 24 ? "no eshift checkpoint header" : "truncated or damaged"});
  auto first = bytes;
  first[0] = 'e';  // a damaged magic: neither format 2 nor a bare zip
  damages.push_back({"magic", first, "no eshift checkpoint header"});
  for (const auto& d : damages) {
    const auto path = dir / "damaged.pt";
    put_bytes(path, d.bytes);
    auto b = build_model(tiny_spec());
    const auto message = error_of([&] { load_checkpoint(path, *b, nullptr, tiny_spec(), torch::kCPU); });
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << d.what << ": " << message;
    EXPECT_NE(message.find(d.expected), std::string::npos) << d.what << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << d.what;
    EXPECT_NE(error_of([&] { verify_checkpoint(path); }), "no CheckpointError") << d.what;
  }
  EXPECT_NO_THROW(verify_checkpoint(good));
}

TEST(Checkpoint, AFormatOneCheckpointStillLoads) {
  TempDir dir;
  auto a = trained(tiny_spec());
  save_checkpoint(dir / "v2.pt", *a.model, nullptr, {tiny_spec(), 4, "{}", {0.0}, {1.0}});
  const auto v2 = bytes_of(dir / "v2.pt");
  put_bytes(dir / "v1.pt", v2.substr(24));  // the bare archive, as eshift wrote it before the checksum
  auto b = build_model(tiny_spec());
  EXPECT_EQ(load_checkpoint(dir / "v1.pt", *b, nullptr, tiny_spec(), torch::kCPU).epoch, 4);
  const auto pa = a.model->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
}

TEST(RunCheckpoints, KeepsTheLastKEpochsAndPointsCheckpointPtAtTheNewest) {
  TempDir dir;
  auto a = trained(tiny_spec());
  RunCheckpoints run(dir.path, 2);
  auto save = [&](int64_t epoch) {
    run.save(epoch, [&](const std::string& path) {
      save_checkpoint(path, *a.model, nullptr, {tiny_spec(), epoch, "{}", {0.0}, {1.0}});
    });
  };
  for (int64_t e = 1; e <= 4; ++e) save(e);
  const auto kept = run.epochs();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].first, 4);
  EXPECT_EQ(kept[1].first, 3);
  EXPECT_EQ(read_checkpoint_info(run.latest()).epoch, 4);
  // resumed from epoch 3 and saved epoch 4 again... then from an older one: newer files go
  save(2);
  EXPECT_EQ(run.epochs().size(), 1u);  // 3 and 4 belonged to the abandoned continuation; 1 is too old
  EXPECT_EQ(read_checkpoint_info(run.latest()).epoch, 2);
  save(3);
  // damage the latest (and so checkpoint-epoch3.pt, the same file): the intact older one is named
  auto bytes = bytes_of(run.latest());
  bytes[bytes.size() / 2] ^= 1;
  put_bytes(run.latest(), bytes);
  EXPECT_EQ(run.newest_intact(run.latest()), run.of_epoch(2));
  // --resume-from the intact one: it becomes the latest and the damaged newer one goes
  run.restart_from(run.of_epoch(2), 2);
  EXPECT_EQ(read_checkpoint_info(run.latest()).epoch, 2);
  ASSERT_EQ(run.epochs().size(), 1u);
  EXPECT_EQ(run.epochs()[0].first, 2);
  EXPECT_THROW(RunCheckpoints(dir.path, 0), std::invalid_argument);
}
