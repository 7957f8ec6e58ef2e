#include "eshift/train/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "eshift/data/registry.h"

namespace eshift {

namespace {
// Values that end up in float32 tensors (learning rate, decay factors, ε, δ) must fit one.
bool fits_float(double v) { return std::isfinite(v) && std::fabs(v) <= FLT_MAX; }

std::string str(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

void TrainConfig::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  const std::pair<const char*, double> floats[] = {
      {"--lr", schedule.base_lr}, {"--gamma", schedule.gamma}, {"--momentum", optimizer.momentum}, {"--dampening", optimizer.dampening},
      {"--wd", decay.wd},         {"--lam", decay.lam},        {"--mineps", decay.mineps}, {"--ws-delta", model.ws.delta}};
  for (const auto& [flag, value] : floats)
    check(!std::isfinite(value) || fits_float(value),
          std::string(flag) + " " + str(value) + " does not fit a float32 (at most " + str(FLT_MAX) + ")");
  find_dataset(data);
  model.validate();
  schedule.validate();
  decay.validate();
  check(epochs >= 1, "--epochs must be >= 1");
  check(batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two examples)");
  check(eval_batch_size >= 1, "--eval-batch-size must be >= 1");
  check(train_subset >= 0 && test_subset >= 0, "--train-subset/--test-subset must be >= 0");
  optimizer.validate();
  check(!decay.decoupled || optimizer.name == "sgd" || optimizer.name == "adam",
        "--decoupled-wd is for --optimizer sgd or adam; " + optimizer.name + " decides how it applies decay itself");
  // the decay step multiplies a weight by (1 − lr·λ): at lr·λ >= 1 it flips or zeroes every weight
  check(schedule.base_lr * decay.wd < 1, "--lr × --wd must be < 1 (got " + str(schedule.base_lr * decay.wd) +
                                             "): each step would flip the weights' sign");
  check(!decay.el2 || schedule.base_lr * decay.lam < 1, "--lr × --lam must be < 1 (got " + str(schedule.base_lr * decay.lam) +
                                              "): each step would overshoot the ε-shifted decay");
  check(decay.mineps < 1, "--mineps (ε) must be < 1, the scale of a filter's σ (got " + str(decay.mineps) + ")");
  check(schedule.warmup_epochs < epochs, "--warmup " + std::to_string(schedule.warmup_epochs) +
                                             " must be shorter than --epochs " + std::to_string(epochs));
  for (int m : schedule.milestones)
    check(m < epochs, "--schedule milestone " + std::to_string(m) + " must be below --epochs " + std::to_string(epochs) +
                          " (epochs count from 0): it would never apply");
  check(model.norm != "gn" || model.width % model.gn_groups == 0,
        "--gn-groups " + std::to_string(model.gn_groups) + " must divide --width " + std::to_string(model.width) +
            " (GroupNorm splits every layer's channels into equal groups)");
  check(crop_padding >= 0, "--crop-padding must be >= 0");
  check(workers >= 1 && workers <= 256, "--workers must be in [1, 256]");
  check(std::isfinite(label_smoothing) && label_smoothing >= 0 && label_smoothing < 1,
        "--label-smoothing must be in [0, 1), got " + str(label_smoothing));
  check(data_options.image_size >= 8, "--image-size must be >= 8");
  check(data_options.max_image_pixels >= 1, "--max-image-pixels must be >= 1");
  check(!resume || !out_dir.empty(), "--resume needs --out DIR (the run directory to resume)");
  check(resume_from.empty() || !out_dir.empty(), "--resume-from needs --out DIR (the run directory to continue)");
  check(resume_override.empty() || resume || !resume_from.empty(), "--resume-override needs --resume or --resume-from");
  check(keep_checkpoints >= 1, "--keep-checkpoints must be >= 1");
  check(on_nonfinite == "stop" || on_nonfinite == "skip", "unknown --on-nonfinite '" + on_nonfinite + "' (stop or skip)");
  check(probe_every >= 0, "--probe-every must be >= 0");
  check(amp == "off" || amp == "fp16" || amp == "bf16", "unknown --amp '" + amp + "' (off, fp16 or bf16)");
  check(dtype == "float32" || dtype == "float64", "unknown --dtype '" + dtype + "' (float32 or float64)");
  check(amp == "off" || dtype == "float32", "--amp " + amp + " needs --dtype float32 (mixed precision keeps float32 weights)");
  check(dist_timeout >= 1, "--dist-timeout must be >= 1 second");
  check(std::isfinite(bucket_mb) && bucket_mb > 0 && bucket_mb <= 4096, "--bucket-mb must be in (0, 4096], got " + str(bucket_mb));
  check(dist_check_every >= 0, "--dist-check-every must be >= 0");
  check(std::isfinite(collapse_share) && collapse_share >= 0 && collapse_share <= 1,
        "--collapse-share must be in [0, 1] (0 turns the σ-collapse warning off), got " + str(collapse_share));
  check(std::isfinite(collapse_sigma) && collapse_sigma >= 0, "--collapse-sigma must be >= 0, got " + str(collapse_sigma));
}

double TrainConfig::collapse_threshold() const {
  if (collapse_sigma > 0) return collapse_sigma;
  return decay.mineps > 0 ? decay.mineps : 1e-3;
}

std::string TrainConfig::resolved_data_dir() const {
  return data_dir.empty() ? find_dataset(data).default_dir : data_dir;
}

std::string TrainConfig::to_json() const {
  nlohmann::json j;
  j["model"] = nlohmann::json::parse(model.to_json());
  j["data"] = data;
  j["data_dir"] = resolved_data_dir();
  j["cifar100_coarse"] = data_options.cifar100_coarse;
  j["bad_images"] = data_options.bad_images_fatal ? "fatal" : "skip";
  j["image_size"] = data_options.image_size;
  j["max_image_pixels"] = data_options.max_image_pixels;
  j["workers"] = workers;
  j["train_subset"] = train_subset;
  j["test_subset"] = test_subset;
  j["epochs"] = epochs;
  j["batch_size"] = batch_size;
  j["lr"] = schedule.base_lr;
  j["schedule"] = schedule.milestones;
  j["gamma"] = schedule.gamma;
  j["cos"] = schedule.cosine;
  j["warmup"] = schedule.warmup_epochs;
  j["optimizer"] = optimizer.name;
  j["momentum"] = optimizer.momentum;
  j["dampening"] = optimizer.dampening;
  j["nesterov"] = optimizer.nesterov;
  j["beta1"] = optimizer.beta1;
  j["beta2"] = optimizer.beta2;
  j["adam_eps"] = optimizer.adam_eps;
  j["trust_coefficient"] = optimizer.trust_coefficient;
  j["proj_delta"] = optimizer.proj_delta;
  j["wd_ratio"] = optimizer.wd_ratio;
  j["invariance"] = optimizer.invariance;
  j["label_smoothing"] = label_smoothing;
  j["top5"] = top5;
  j["recipe"] = recipe;
  j["wd"] = decay.wd;
  j["wd_all"] = decay.wd_all;
  j["nowd_bn"] = decay.nowd_bn;
  j["nowd_fc"] = decay.nowd_fc;
  j["nowd_conv"] = decay.nowd_conv;
  j["el2"] = decay.el2;
  j["mineps"] = decay.mineps;
  j["mineps_auto"] = decay.mineps_auto;
  j["mineps_layers"] = nlohmann::json::object();
  for (const auto& [layer, eps] : mineps_layers) j["mineps_layers"][layer] = eps;
  j["lam"] = decay.lam;
  j["decoupled_wd"] = decay.decoupled;
  j["crop_padding"] = crop_padding;
  j["hflip"] = hflip;
  j["seed"] = seed;
  j["init_from"] = init_from;
  j["device"] = device;
  j["amp"] = amp;
  j["dtype"] = dtype;
  j["sync_bn"] = sync_bn;
  j["dist_timeout"] = dist_timeout;
  j["bucket_mb"] = bucket_mb;
  j["dist_overlap"] = dist_overlap;
  j["dist_check_every"] = dist_check_every;
  j["channels_last"] = channels_last;
  j["probe_every"] = probe_every;
  j["collapse_share"] = collapse_share;
  j["collapse_sigma"] = collapse_sigma;
  j["keep_checkpoints"] = keep_checkpoints;
  j["on_nonfinite"] = on_nonfinite;
  j["history"] = nlohmann::json::parse(history);
  return j.dump();
}

namespace {
const std::set<std::string> kMeaningless = {"device", "channels_last", "probe_every", "collapse_share", "collapse_sigma",
                                            "keep_checkpoints",
                                            "on_nonfinite", "dist_timeout", "bucket_mb", "dist_overlap",
                                            "dist_check_every", "history", "workers",
                                            "bad_images", "max_image_pixels", "top5", "recipe"};
// Settings added after runs were already stored: missing from an older config.json means this value.
const std::map<std::string, std::string> kAddedLater = {
    {"dtype", "\"float32\""}, {"sync_bn", "false"}, {"cifar100_coarse", "false"}, {"image_size", "224"},
    {"label_smoothing", "0.0"}, {"init_from", "\"\""}, {"optimizer", "\"sgd\""}, {"beta1", "0.9"},
    {"beta2", "0.999"}, {"adam_eps", "1e-08"}, {"trust_coefficient", "0.001"}, {"proj_delta", "0.1"},
    {"wd_ratio", "0.1"}, {"invariance", "\"cosine\""}, {"mineps_auto", "false"}};

// name → value text, nested objects flattened to "outer.inner".
void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) flatten(value, name, out);
    else out.emplace_back(name, value.dump());
  }
}

std::vector<std::pair<std::string, std::string>> flat(const std::string& json) {
  std::vector<std::pair<std::string, std::string>> out;
  flatten(nlohmann::json::parse(json), "", out);
  return out;
}
}  // namespace

std::vector<SettingChange> meaning_changes(const std::string& before_json, const std::string& after_json) {
  const auto before = flat(before_json), after = flat(after_json);
  auto value_in = [](const auto& settings, const std::string& name) -> std::string {
    for (const auto& [n, v] : settings)
      if (n == name) return v;
    const auto later = kAddedLater.find(name);
    return later != kAddedLater.end() ? later->second : "null";
  };
  std::vector<SettingChange> out;
  std::set<std::string> seen;
  for (const auto* side : {&before, &after})
    for (const auto& [name, ignored] : *side) {
      if (kMeaningless.count(name) || !seen.insert(name).second) continue;
      const auto b = value_in(before, name), a = value_in(after, name);
      if (b != a) out.push_back({name, b, a});
    }
  return out;
}

std::vector<std::string> setting_names(const std::string& json) {
  std::vector<std::string> out;
  for (const auto& [name, value] : flat(json)) out.push_back(name);
  return out;
}

std::string history_after_resume(const std::string& before_json, int64_t resumed_after_epoch,
                                 const std::vector<SettingChange>& changes) {
  const auto before = nlohmann::json::parse(before_json);
  auto history = before.contains("history") ? before["history"] : nlohmann::json::array();
  if (changes.empty()) return history.dump();
  nlohmann::json changed = nlohmann::json::object();
  for (const auto& c : changes) changed[c.name] = {nlohmann::json::parse(c.before), nlohmann::json::parse(c.after)};
  history.push_back({{"resumed_after_epoch", resumed_after_epoch}, {"changed", changed}});
  return history.dump();
}

}  // namespace eshift
