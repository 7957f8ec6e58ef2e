#include "eshift/train/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <stdexcept>

#include "eshift/data/registry.h"

namespace eshift {

void TrainConfig::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  find_dataset(data);
  model.validate();
  schedule.validate();
  decay.validate();
  check(epochs >= 1, "--epochs must be >= 1");
  check(batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two examples)");
  check(eval_batch_size >= 1, "--eval-batch-size must be >= 1");
  check(train_subset >= 0 && test_subset >= 0, "--train-subset/--test-subset must be >= 0");
  check(std::isfinite(momentum) && momentum >= 0, "--momentum must be >= 0");
  check(dampening >= 0 && dampening <= 1, "--dampening must be in [0, 1]");
  check(!nesterov || (momentum > 0 && dampening == 0), "--nesterov needs --momentum > 0 and --dampening 0");
  check(crop_padding >= 0, "--crop-padding must be >= 0");
  check(!resume || !out_dir.empty(), "--resume needs --out DIR (the run directory to resume)");
  check(probe_every >= 0, "--probe-every must be >= 0");
  check(amp == "off" || amp == "fp16" || amp == "bf16", "unknown --amp '" + amp + "' (off, fp16 or bf16)");
}

std::string TrainConfig::resolved_data_dir() const {
  return data_dir.empty() ? find_dataset(data).default_dir : data_dir;
}

std::string TrainConfig::to_json() const {
  nlohmann::json j;
  j["model"] = nlohmann::json::parse(model.to_json());
  j["data"] = data;
  j["data_dir"] = resolved_data_dir();
  j["train_subset"] = train_subset;
  j["test_subset"] = test_subset;
  j["epochs"] = epochs;
  j["batch_size"] = batch_size;
  j["lr"] = schedule.base_lr;
  j["schedule"] = schedule.milestones;
  j["gamma"] = schedule.gamma;
  j["cos"] = schedule.cosine;
  j["warmup"] = schedule.warmup_epochs;
  j["momentum"] = momentum;
  j["dampening"] = dampening;
  j["nesterov"] = nesterov;
  j["wd"] = decay.wd;
  j["wd_all"] = decay.wd_all;
  j["nowd_bn"] = decay.nowd_bn;
  j["nowd_fc"] = decay.nowd_fc;
  j["nowd_conv"] = decay.nowd_conv;
  j["el2"] = decay.el2;
  j["mineps"] = decay.mineps;
  j["lam"] = decay.lam;
  j["decoupled_wd"] = decay.decoupled;
  j["crop_padding"] = crop_padding;
  j["hflip"] = hflip;
  j["seed"] = seed;
  j["device"] = device;
  j["amp"] = amp;
  j["channels_last"] = channels_last;
  j["probe_every"] = probe_every;
  return j.dump();
}

}  // namespace eshift
