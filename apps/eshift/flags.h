#pragma once
// Flag groups shared by several commands, each defined once: threads, device and memory format,
// data, model, decay, and the training flags of `train` and `demo`.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "eshift/models/model_spec.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/train/config.h"

namespace eshift::cli {

// --threads N (default: all cores; LibTorch alone would use one here).
struct ThreadFlags {
  int threads = 0;  // 0 until parsed: all cores
  void add(CLI::App& app);
  void apply() const;  // torch::set_num_threads; throws std::invalid_argument naming --threads
};

// --device cpu|cuda|cuda:N, --amp off|fp16|bf16, and --channels-last/--no-channels-last.
void add_device_flag(CLI::App& app, std::string& device);
void add_amp_flag(CLI::App& app, std::string& amp);
void add_channels_last_flag(CLI::App& app, bool& channels_last, const std::string& what);

// --data NAME and --data-dir DIR. For compatibility with eshift before datasets had names, a
// --data value that is not a dataset name but a directory path (it contains '/' or exists) is
// read as --data-dir of the default dataset.
struct DataFlags {
  std::string data, data_dir;
  void add(CLI::App& app);
  // Resolves the flags into a dataset name and directory (empty: the dataset's default); leaves
  // them as they are when neither flag was given. Throws std::invalid_argument naming --data.
  void apply(std::string& name, std::string& dir) const;
};

// --model, --wnorm, --norm, --gn-groups, --width, --ws-delta, --ws-delta-inside-sqrt.
struct ModelFlags {
  std::string wnorm = "ws";
  void add(CLI::App& app, ModelSpec& spec);
  void apply(ModelSpec& spec) const;  // the parsed family; throws on an unknown one
};

// The reference trainer's decay flags: --wd, --wd-all, --nowd-bn/fc/conv, --el2, --mineps, --lam,
// --decoupled-wd. --mineps is read as text into `mineps` (a number, or auto: apply_mineps).
void add_decay_flags(CLI::App& app, DecayFlags& decay, std::string& mineps);
// --mineps TEXT into `decay`: a number is ε; auto chooses ε after the first epoch
// (observe/eps_calibration.h). Throws std::invalid_argument naming --mineps.
void apply_mineps(const std::string& mineps, DecayFlags& decay);

// Everything `train` and `demo` share: model, data, schedule, SGD, decay, augmentation, seed,
// probes, device, threads.
// After parsing, apply() resolves the defaults that depend on other flags: the recipe's settings
// (--recipe, train/recipe.h) for the flags not given, then the dataset's own crop padding.
struct TrainFlags {
  ModelFlags model;
  DataFlags data;
  ThreadFlags threads;
  std::string recipe;
  std::string bad_images = "skip";
  std::string mineps = "0.001";
  void add(CLI::App& app, TrainConfig& config);
  // Returns what the recipe set, one line per setting, to print before training (empty: no recipe).
  std::vector<std::string> apply(TrainConfig& config) const;

 private:
  CLI::App* app_ = nullptr;
};

// "CxHxW" → (C, H, W), each >= 1; throws std::invalid_argument naming --image.
std::tuple<int64_t, int64_t, int64_t> parse_image(const std::string& image);

}  // namespace eshift::cli
