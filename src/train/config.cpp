#include "eshift/train/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "eshift/data/registry.h"
#include "eshift/tasks/registry.h"

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
  find_task(task);
  model.validate();
  schedule.validate();
  decay.validate();
  check(epochs >= 1, "--epochs must be >= 1");
  check(batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two examples)");
  check(eval_batch_size >= 0, "--eval-batch-size must be >= 1 (0: the task's default)");
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
  if (schedule.iterations == 0) {  // a run of --iterations checks its milestones against them (LrSchedule::validate)
    check(schedule.warmup_epochs < epochs, "--warmup " + std::to_string(schedule.warmup_epochs) +
                                               " must be shorter than --epochs " + std::to_string(epochs));
    for (int m : schedule.milestones)
      check(m < epochs, "--schedule milestone " + std::to_string(m) + " must be below --epochs " + std::to_string(epochs) +
                            " (epochs count from 0): it would never apply");
  }
  check(model.norm != "gn" || model.width % model.gn_groups == 0,
        "--gn-groups " + std::to_string(model.gn_groups) + " must divide --width " + std::to_string(model.width) +
            " (GroupNorm splits every layer's channels into equal groups)");
  check(crop_padding >= 0, "--crop-padding must be >= 0");
  check(workers >= 1 && workers <= 256, "--workers must be in [1, 256]");
  check(min_size >= 1, "--min-size must be at least 1, got " + std::to_string(min_size));
  check(max_size >= 1, "--max-size must be at least 1, got " + std::to_string(max_size));
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

namespace {
using nlohmann::json;

// Every setting of a run, declared once: its config.json name, whether it changes what the run
// computes (a resume and the ranks of a data-parallel run compare those), its value in runs stored
// before it existed (JSON; empty: it always existed), and how to read it. config.json's keys, the
// resume comparison and its defaults for older runs all derive from this list.
struct Setting {
  const char* name;
  bool meaning;
  const char* before_added;
  std::function<json(const TrainConfig&)> value;
};

const std::vector<Setting>& settings() {
  using C = const TrainConfig&;
  static const std::vector<Setting> list = {
      {"model", true, "", [](C c) { return json::parse(c.model.to_json()); }},  // nested: model.width, …
      {"data", true, "", [](C c) { return json(c.data); }},
      {"data_dir", true, "", [](C c) { return json(c.resolved_data_dir()); }},
      {"cifar100_coarse", true, "false", [](C c) { return json(c.data_options.cifar100_coarse); }},
      {"bad_images", false, "", [](C c) { return json(c.data_options.bad_images_fatal ? "fatal" : "skip"); }},
      {"image_size", true, "224", [](C c) { return json(c.data_options.image_size); }},
      {"max_image_pixels", false, "", [](C c) { return json(c.data_options.max_image_pixels); }},
      {"workers", false, "", [](C c) { return json(c.workers); }},
      {"train_subset", true, "", [](C c) { return json(c.train_subset); }},
      {"test_subset", true, "", [](C c) { return json(c.test_subset); }},
      {"epochs", true, "", [](C c) { return json(c.epochs); }},
      {"batch_size", true, "", [](C c) { return json(c.batch_size); }},
      {"lr", true, "", [](C c) { return json(c.schedule.base_lr); }},
      {"schedule", true, "", [](C c) { return json(c.schedule.milestones); }},
      {"gamma", true, "", [](C c) { return json(c.schedule.gamma); }},
      {"cos", true, "", [](C c) { return json(c.schedule.cosine); }},
      {"warmup", true, "", [](C c) { return json(c.schedule.warmup_epochs); }},
      {"iterations", true, "0", [](C c) { return json(c.schedule.iterations); }},
      {"warmup_iters", true, "0", [](C c) { return json(c.schedule.warmup_iters); }},
      {"warmup_factor", true, "0.001", [](C c) { return json(c.schedule.warmup_factor); }},
      {"optimizer", true, "\"sgd\"", [](C c) { return json(c.optimizer.name); }},
      {"momentum", true, "", [](C c) { return json(c.optimizer.momentum); }},
      {"dampening", true, "", [](C c) { return json(c.optimizer.dampening); }},
      {"nesterov", true, "", [](C c) { return json(c.optimizer.nesterov); }},
      {"beta1", true, "0.9", [](C c) { return json(c.optimizer.beta1); }},
      {"beta2", true, "0.999", [](C c) { return json(c.optimizer.beta2); }},
      {"adam_eps", true, "1e-08", [](C c) { return json(c.optimizer.adam_eps); }},
      {"trust_coefficient", true, "0.001", [](C c) { return json(c.optimizer.trust_coefficient); }},
      {"proj_delta", true, "0.1", [](C c) { return json(c.optimizer.proj_delta); }},
      {"wd_ratio", true, "0.1", [](C c) { return json(c.optimizer.wd_ratio); }},
      {"invariance", true, "\"cosine\"", [](C c) { return json(c.optimizer.invariance); }},
      {"task", true, "\"classify\"", [](C c) { return json(c.task); }},
      {"label_smoothing", true, "0.0", [](C c) { return json(c.label_smoothing); }},
      {"top5", false, "", [](C c) { return json(c.top5); }},      // a measurement
      {"min_size", true, "800", [](C c) { return json(c.min_size); }},
      {"max_size", true, "1333", [](C c) { return json(c.max_size); }},
      {"recipe", false, "", [](C c) { return json(c.recipe); }},  // the flags it set are compared
      {"wd", true, "", [](C c) { return json(c.decay.wd); }},
      {"wd_all", true, "", [](C c) { return json(c.decay.wd_all); }},
      {"nowd_bn", true, "", [](C c) { return json(c.decay.nowd_bn); }},
      {"nowd_fc", true, "", [](C c) { return json(c.decay.nowd_fc); }},
      {"nowd_conv", true, "", [](C c) { return json(c.decay.nowd_conv); }},
      {"el2", true, "", [](C c) { return json(c.decay.el2); }},
      {"mineps", true, "", [](C c) { return json(c.decay.mineps); }},
      {"mineps_auto", true, "false", [](C c) { return json(c.decay.mineps_auto); }},
      {"mineps_layers", true, "",
       [](C c) {
         json layers = json::object();
         for (const auto& [layer, eps] : c.mineps_layers) layers[layer] = eps;
         return layers;
       }},
      {"lam", true, "", [](C c) { return json(c.decay.lam); }},
      {"decoupled_wd", true, "", [](C c) { return json(c.decay.decoupled); }},
      {"crop_padding", true, "", [](C c) { return json(c.crop_padding); }},
      {"hflip", true, "", [](C c) { return json(c.hflip); }},
      {"seed", true, "", [](C c) { return json(c.seed); }},
      {"init_from", true, "\"\"", [](C c) { return json(c.init_from); }},
      {"init_backbone", true, "\"\"", [](C c) { return json(c.init_backbone); }},
      {"device", false, "", [](C c) { return json(c.device); }},
      {"amp", true, "", [](C c) { return json(c.amp); }},
      {"dtype", true, "\"float32\"", [](C c) { return json(c.dtype); }},
      {"sync_bn", true, "false", [](C c) { return json(c.sync_bn); }},
      {"dist_timeout", false, "", [](C c) { return json(c.dist_timeout); }},
      {"bucket_mb", false, "", [](C c) { return json(c.bucket_mb); }},
      {"dist_overlap", false, "", [](C c) { return json(c.dist_overlap); }},
      {"dist_check_every", false, "", [](C c) { return json(c.dist_check_every); }},
      {"channels_last", false, "", [](C c) { return json(c.channels_last); }},
      {"probe_every", false, "", [](C c) { return json(c.probe_every); }},
      {"collapse_share", false, "", [](C c) { return json(c.collapse_share); }},
      {"collapse_sigma", false, "", [](C c) { return json(c.collapse_sigma); }},
      {"keep_checkpoints", false, "", [](C c) { return json(c.keep_checkpoints); }},
      {"on_nonfinite", false, "", [](C c) { return json(c.on_nonfinite); }},
      {"history", false, "", [](C c) { return json::parse(c.history); }},
  };
  return list;
}

// The setting a config.json name belongs to ("model.width" → model); nullptr when none does.
const Setting* setting_of(const std::string& name) {
  const std::string top = name.substr(0, name.find('.'));
  for (const auto& s : settings())
    if (top == s.name) return &s;
  return nullptr;
}
}  // namespace

TaskOptions TrainConfig::task_options() const { return {label_smoothing, top5, min_size, max_size}; }

std::string TrainConfig::to_json() const {
  json j;
  for (const auto& s : settings()) j[s.name] = s.value(*this);
  return j.dump();
}

namespace {
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
    const Setting* setting = setting_of(name);  // missing from an older run: its value before it existed
    return setting && *setting->before_added ? setting->before_added : "null";
  };
  std::vector<SettingChange> out;
  std::set<std::string> seen;
  for (const auto* side : {&before, &after})
    for (const auto& [name, ignored] : *side) {
      const Setting* setting = setting_of(name);
      if ((setting && !setting->meaning) || !seen.insert(name).second) continue;
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
