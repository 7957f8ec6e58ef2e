#pragma once
// Everything a training run is made of, as the flags of `eshift train` set it; validated before
// anything is read or written, and stored as the run's config.json.
#include <cstdint>
#include <string>

#include "eshift/data/registry.h"
#include "eshift/models/model_spec.h"
#include "eshift/optim/lr_schedule.h"
#include "eshift/regularize/decay_flags.h"

namespace eshift {

struct TrainConfig {
  ModelSpec model;                       // in_channels / num_classes are taken from the data
  std::string data = kDefaultDataset;    // dataset name (data/registry.h)
  std::string data_dir;                  // empty: the dataset's default directory
  int64_t train_subset = 0;              // first N training examples (0 = all)
  int64_t test_subset = 0;               // first N test examples (0 = all)
  int epochs = 10;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 500;
  LrSchedule schedule;
  double momentum = 0.9;
  double dampening = 0;
  bool nesterov = false;
  DecayFlags decay;
  int crop_padding = 2;                  // random-crop padding (pixels); 0 disables
  bool hflip = true;                     // random horizontal flips
  uint64_t seed = 0;
  std::string device = "cpu";
  std::string amp = "off";               // mixed precision: off | fp16 | bf16 (train/mixed_precision.h)
  bool channels_last = true;             // NHWC parameters and batches (faster convs/BN on CPU)
  std::string out_dir;                   // empty: write nothing
  bool resume = false;                   // continue from out_dir/checkpoint.pt
  std::string label = "train";           // prefix of progress lines
  int probe_every = 50;                  // probe weights/gradients every k steps (0 = never)

  void validate() const;                 // throws std::invalid_argument on impossible values
  // The directory the data is read from: data_dir, or the dataset's default.
  std::string resolved_data_dir() const;
  std::string to_json() const;
};

}  // namespace eshift
