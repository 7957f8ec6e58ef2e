#pragma once
// Everything a training run is made of, as the flags of `eshift train` set it; validated before
// anything is read or written, and stored as the run's config.json.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eshift/data/dataset.h"
#include "eshift/data/registry.h"
#include "eshift/models/model_spec.h"
#include "eshift/optim/lr_schedule.h"
#include "eshift/optim/optimizer_spec.h"
#include "eshift/regularize/decay_flags.h"
#include "eshift/tasks/registry.h"

namespace eshift {

// Debug builds compare the parameters across ranks every 50 steps; release builds when asked.
#ifdef NDEBUG
constexpr int kDefaultDistCheckEvery = 0;
#else
constexpr int kDefaultDistCheckEvery = 50;
#endif

struct TrainConfig {
  ModelSpec model;                       // in_channels / num_classes are taken from the data
  std::string data = kDefaultDataset;    // dataset name (data/registry.h)
  std::string data_dir;                  // empty: the dataset's default directory
  DataOptions data_options;              // --cifar100-coarse, --bad-images, --image-size, --max-image-pixels
  int workers = 2;                       // batches prepared at once, each on its own thread (decoding)
  int64_t train_subset = 0;              // first N training examples (0 = all)
  int64_t test_subset = 0;               // first N test examples (0 = all)
  int epochs = 10;                       // with --iterations: derived from it (the epochs its steps start)
  int64_t batch_size = 128;
  int64_t eval_batch_size = 0;          // 0: the task's (500 images to classify, 2 to detect)
  LrSchedule schedule;
  OptimizerSpec optimizer;               // --optimizer and its settings (momentum, betas, …)
  std::string task = kDefaultTask;       // what the model learns (tasks/registry.h)
  double label_smoothing = 0;            // cross-entropy against (1 − s)·one-hot + s/K
  bool top5 = false;                     // also measure top-5 accuracy
  int64_t min_size = 800;                // detection: resize the shorter side to this …
  int64_t max_size = 1333;               // … unless the longer would pass this (data/detection.h)
  std::string recipe;                    // the preset the run started from (informational)
  DecayFlags decay;
  int crop_padding = 2;                  // random-crop padding (pixels); 0 disables
  bool hflip = true;                     // random horizontal flips
  uint64_t seed = 0;
  std::string init_from;                 // a PyTorch state dict the model starts from (interop/import_weights.h)
  std::string init_backbone;             // a detector's backbone from an ImageNet classifier (eshift checkpoint or state dict)
  std::string device = "cpu";
  std::string amp = "off";               // mixed precision: off | fp16 | bf16 (train/mixed_precision.h)
  std::string dtype = "float32";         // parameters and computation: float32 | float64 (rounding-level checks)
  bool channels_last = true;             // NHWC parameters and batches (faster convs/BN on CPU)
  std::string out_dir;                   // empty: write nothing
  bool resume = false;                   // continue from out_dir/checkpoint.pt
  std::string resume_from;               // continue the run in out_dir from this checkpoint (implies resume)
  std::vector<std::string> resume_override;  // settings a resume may change (config.json's names)
  int keep_checkpoints = 2;              // per-epoch checkpoints kept (train/run_checkpoints.h)
  std::string on_nonfinite = "stop";     // a non-finite loss or gradient: stop | skip (the step, counted)
  std::string history = "[]";            // JSON array: the settings each resume changed
  // data parallelism (WORLD_SIZE > 1: torchrun or `eshift launch`; distributed/data_parallel.h);
  // batch_size is the global batch, each of the W processes takes batch_size / W of it
  bool sync_bn = false;                  // BatchNorm statistics over all processes
  int dist_timeout = 300;                // seconds a rank waits for the others (rendezvous, collectives)
  double bucket_mb = 25;                 // gradient all-reduce buckets (MiB)
  bool dist_overlap = true;              // all-reduce buckets during backward (false: after it, to measure)
  int dist_check_every = kDefaultDistCheckEvery;  // steps between bit-identity checks across ranks (0: never)
  std::string label = "train";           // prefix of progress lines
  int probe_every = 50;                  // probe weights/gradients every k steps (0 = never)
  std::map<std::string, double> mineps_layers;  // --mineps auto, once chosen: ε per layer (decay.mineps: the smallest)
  double collapse_share = 0.05;          // warn when this share of normalized filters has σ below collapse_sigma (0: off)
  double collapse_sigma = 0;             // the σ that counts as collapsed; 0: decay.mineps (observe/collapse_watch.h)

  void validate() const;                 // throws std::invalid_argument naming the flag
  // The directory the data is read from: data_dir, or the dataset's default.
  std::string resolved_data_dir() const;
  std::string to_json() const;
  TaskOptions task_options() const;      // label_smoothing, top5, min_size, max_size
  // The σ below which a filter counts as collapsed: collapse_sigma, else ε (--mineps), else 1e-3.
  double collapse_threshold() const;
};

// One setting a resume changes, as config.json writes it (nested ones as "model.width").
struct SettingChange {
  std::string name, before, after;
};

// The settings that differ between two config.json texts, leaving out those that do not change
// what the run computes: device, channels_last, probe_every, the σ-collapse warning (collapse_share,
// collapse_sigma), keep_checkpoints, on_nonfinite, the
// data-parallel transport (dist_timeout, bucket_mb, dist_overlap, dist_check_every), the loader's
// workers and bad-image policy (bad_images, max_image_pixels), top5 (a measurement), recipe (the flags it set are compared) and the
// history itself. A setting missing from an older run's configuration counts as its value from
// before it existed. Each setting is declared once, with its meaning and that value, in
// config.cpp's settings(): config.json's keys and this comparison derive from it.
std::vector<SettingChange> meaning_changes(const std::string& before_json, const std::string& after_json);

// Every setting name of a config.json text (what --resume-override accepts).
std::vector<std::string> setting_names(const std::string& json);

// The history a resumed run records: the stored run's history (before_json's "history", [] when it
// has none), plus {"resumed_after_epoch": E, "changed": {name: [before, after], …}} when `changes`
// is not empty. A JSON array.
std::string history_after_resume(const std::string& before_json, int64_t resumed_after_epoch,
                                 const std::vector<SettingChange>& changes);

}  // namespace eshift
