// A training configuration: every impossible value is refused with its flag named, the data
// directory defaults to the dataset's, and config.json records what the run resolved.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

#include "eshift/train/config.h"

using namespace eshift;

TEST(TrainConfig, ImpossibleValuesNameTheirFlag) {
  const std::vector<std::pair<std::function<void(TrainConfig&)>, std::string>> cases = {
      {[](TrainConfig& c) { c.epochs = 0; }, "--epochs"},
      {[](TrainConfig& c) { c.batch_size = 1; }, "--batch-size"},
      {[](TrainConfig& c) { c.eval_batch_size = -1; }, "--eval-batch-size"},
      {[](TrainConfig& c) { c.train_subset = -5; }, "--train-subset"},
      {[](TrainConfig& c) { c.optimizer.momentum = -0.5; }, "--momentum"},
      {[](TrainConfig& c) { c.optimizer.dampening = 2; }, "--dampening"},
      {[](TrainConfig& c) { c.optimizer.nesterov = true, c.optimizer.momentum = 0; }, "--nesterov"},
      {[](TrainConfig& c) { c.crop_padding = -1; }, "--crop-padding"},
      {[](TrainConfig& c) { c.resume = true; }, "--resume needs --out"},
      {[](TrainConfig& c) { c.probe_every = -1; }, "--probe-every"},
      {[](TrainConfig& c) { c.data = "mnist-color"; }, "--data 'mnist-color'"},
      {[](TrainConfig& c) { c.model.name = "resnet9"; }, "resnet9"},
      {[](TrainConfig& c) { c.schedule.base_lr = 0; }, "--lr"},
      {[](TrainConfig& c) { c.decay.mineps = -1; }, "--mineps"},
      {[](TrainConfig& c) { c.decay.mineps = 2; }, "--mineps (ε) must be < 1"},
      {[](TrainConfig& c) { c.schedule.base_lr = 1e39; }, "--lr 1e+39 does not fit a float32"},
      {[](TrainConfig& c) { c.model.ws.delta = 1e300; }, "--ws-delta 1e+300 does not fit a float32"},
      {[](TrainConfig& c) { c.decay.lam = 1e40; }, "--lam 1e+40 does not fit a float32"},
      {[](TrainConfig& c) { c.optimizer.momentum = 1; }, "--momentum must be in [0, 1)"},
      {[](TrainConfig& c) { c.schedule.base_lr = 10, c.decay.wd = 0.2; }, "--lr × --wd must be < 1"},
      {[](TrainConfig& c) { c.schedule.base_lr = 10, c.decay.lam = 0.2, c.decay.el2 = true; }, "--lr × --lam must be < 1"},
      {[](TrainConfig& c) { c.schedule.warmup_epochs = 10; }, "--warmup 10 must be shorter than --epochs 10"},
      {[](TrainConfig& c) { c.schedule.milestones = {5, 50}; }, "--schedule milestone 50 must be below --epochs 10"},
      {[](TrainConfig& c) { c.model.norm = "gn", c.model.gn_groups = 7; }, "--gn-groups 7 must divide --width 16"},
      {[](TrainConfig& c) { c.resume_from = "x.pt"; }, "--resume-from needs --out"},
      {[](TrainConfig& c) { c.out_dir = "d", c.resume_override = {"lr"}; }, "--resume-override needs --resume"},
      {[](TrainConfig& c) { c.keep_checkpoints = 0; }, "--keep-checkpoints"},
      {[](TrainConfig& c) { c.on_nonfinite = "ignore"; }, "--on-nonfinite 'ignore'"},
  };
  for (const auto& [breaks, flag] : cases) {
    TrainConfig c;
    breaks(c);
    try {
      c.validate();
      ADD_FAILURE() << "accepted: " << flag;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
  const TrainConfig defaults;
  EXPECT_NO_THROW(defaults.validate());
}

TEST(TrainConfig, JsonRecordsTheDatasetAndTheResolvedDirectory) {
  TrainConfig c;
  auto j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j.at("data"), "fashion-mnist");
  EXPECT_EQ(j.at("data_dir"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(j.at("model").at("name"), "resnet20");
  c.data_dir = "/data/fmnist";
  c.decay.el2 = true;
  j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j.at("data_dir"), "/data/fmnist");
  EXPECT_EQ(j.at("el2"), true);
  EXPECT_EQ(c.resolved_data_dir(), "/data/fmnist");
}

TEST(TrainConfig, AResumeSeesTheChangesOfMeaningAndRecordsThem) {
  TrainConfig before;
  before.schedule.base_lr = 0.05;
  auto after = before;
  EXPECT_TRUE(meaning_changes(before.to_json(), after.to_json()).empty());
  // settings that do not change what is computed
  after.device = "cuda";
  after.channels_last = false;
  after.probe_every = 7;
  after.keep_checkpoints = 5;
  after.on_nonfinite = "skip";
  EXPECT_TRUE(meaning_changes(before.to_json(), after.to_json()).empty());
  // settings that do: each is listed, old → new, nested ones by their dotted name
  after.schedule.base_lr = 0.1;
  after.seed = 3;
  after.model.width = 32;
  after.data_dir = "/elsewhere";
  after.crop_padding = 0;
  const auto changes = meaning_changes(before.to_json(), after.to_json());
  std::map<std::string, std::pair<std::string, std::string>> got;
  for (const auto& c : changes) got[c.name] = {c.before, c.after};
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(got["lr"], std::make_pair(std::string("0.05"), std::string("0.1")));
  EXPECT_EQ(got["seed"], std::make_pair(std::string("0"), std::string("3")));
  EXPECT_EQ(got["model.width"], std::make_pair(std::string("16"), std::string("32")));
  EXPECT_EQ(got["data_dir"].second, "\"/elsewhere\"");
  EXPECT_EQ(got["crop_padding"], std::make_pair(std::string("2"), std::string("0")));

  // the history: the stored run's entries, then this resume's
  const auto first = nlohmann::json::parse(history_after_resume(before.to_json(), 4, {{"epochs", "10", "20"}}));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["resumed_after_epoch"], 4);
  EXPECT_EQ(first[0]["changed"]["epochs"], nlohmann::json::parse("[10, 20]"));
  auto resumed = before;
  resumed.history = first.dump();
  const auto second = nlohmann::json::parse(history_after_resume(resumed.to_json(), 9, {{"lr", "0.05", "0.01"}}));
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[1]["changed"]["lr"], nlohmann::json::parse("[0.05, 0.01]"));
  EXPECT_EQ(nlohmann::json::parse(history_after_resume(resumed.to_json(), 9, {})), first);  // no change: no entry
  EXPECT_EQ(history_after_resume("{\"lr\": 0.1}", 1, {}), "[]");  // a run stored before histories existed

  const auto names = setting_names(before.to_json());
  for (const char* name : {"epochs", "lr", "model.width", "seed", "data_dir"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
}

namespace eshift {
namespace {

TEST(TrainConfig, EverySettingIsDeclaredOnceWithItsMeaningAndItsValueBeforeItExisted) {
  const TrainConfig base;
  // the settings config.h says a resume does not compare: changing each changes nothing
  auto quiet = base;
  quiet.device = "cuda";
  quiet.channels_last = false;
  quiet.probe_every = 3;
  quiet.collapse_share = 0.5;
  quiet.collapse_sigma = 1e-4;
  quiet.keep_checkpoints = 9;
  quiet.on_nonfinite = "skip";
  quiet.dist_timeout = 7;
  quiet.bucket_mb = 1;
  quiet.dist_overlap = false;
  quiet.dist_check_every = 4;
  quiet.workers = 5;
  quiet.data_options.bad_images_fatal = true;
  quiet.data_options.max_image_pixels = 10;
  quiet.top5 = true;
  quiet.recipe = "cifar100";
  quiet.history = R"([{"resumed_after_epoch": 1}])";
  EXPECT_TRUE(meaning_changes(base.to_json(), quiet.to_json()).empty());
  // a run stored before a setting existed: the missing one compares as its value from before
  auto older = nlohmann::json::parse(base.to_json());
  for (const char* added : {"optimizer", "dtype", "beta1", "adam_eps", "mineps_auto", "init_from", "sync_bn",
                            "cifar100_coarse", "image_size", "label_smoothing", "invariance", "task"})
    ASSERT_EQ(older.erase(added), 1u) << added;
  EXPECT_TRUE(meaning_changes(older.dump(), base.to_json()).empty());
  // but a setting that always existed, missing, is a change (null → its value)
  older.erase("lr");
  const auto changes = meaning_changes(older.dump(), base.to_json());
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "lr");
  EXPECT_EQ(changes[0].before, "null");
}

}  // namespace
}  // namespace eshift
