#pragma once
// A shuffling batch loader over an in-memory ImageSet, with random-crop (zero padding) and
// horizontal-flip augmentation and per-channel normalization. It prepares the next batch on a
// background thread while the caller trains on the current one.
//
// Every random choice of an epoch (order, crop offsets, flips) is drawn up front from
// (seed, epoch), so an epoch's batches are the same whatever the thread timing, and a run resumed
// at an epoch boundary sees exactly the batches an uninterrupted run would.
#include <torch/torch.h>

#include <cstdint>
#include <future>
#include <optional>
#include <vector>

#include "eshift/idx_reader.h"

namespace eshift {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  int crop_padding = 0;   // random crop of the original size from the image zero-padded by this much
  bool hflip = false;     // random horizontal flip with probability ½
  bool drop_last = false; // drop a final partial batch
  std::vector<double> mean{0.0}, std{1.0};  // per channel, in [0,1] pixel units (one value = all)
  uint64_t seed = 0;
};

struct Batch {
  torch::Tensor images;  // float32 [B, C, H, W], normalized
  torch::Tensor labels;  // int64 [B]
};

// Per-channel mean and std (biased) of a uint8 image set, in [0,1] units.
std::pair<std::vector<double>, std::vector<double>> channel_stats(const ImageSet& set);

class BatchLoader {
 public:
  BatchLoader(const ImageSet& set, LoaderOptions options, int epoch);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch, or nullopt at the end of the epoch.
  std::optional<Batch> next();
  int64_t num_batches() const { return num_batches_; }

  // Builds batch i of this epoch synchronously (what the background thread runs).
  Batch make_batch(int64_t i) const;

 private:
  void prefetch(int64_t i);

  const ImageSet& set_;
  LoaderOptions options_;
  std::vector<int64_t> order_;
  std::vector<int16_t> dy_, dx_;   // crop offsets per example of the epoch, in [0, 2·padding]
  std::vector<uint8_t> flip_;      // 1 = flip
  int64_t num_batches_ = 0;
  int64_t next_ = 0;
  std::future<Batch> pending_;
};

}  // namespace eshift
