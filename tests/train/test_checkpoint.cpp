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
#include "eshift/train/checkpoint.h"
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
  EXPECT_NE(message.find(path + ": cannot move the new file into place"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_TRUE(std::filesystem::exists(path + "/keep"));
  const auto missing_dir = dir / "no-such-dir/checkpoint.pt";
  EXPECT_NE(error_of([&] { save_checkpoint(missing_dir, *a.model, nullptr, {tiny_spec(), 1, "{}", {0.0}, {1.0}}); })
                .find(missing_dir),
            std::string::npos);
}
