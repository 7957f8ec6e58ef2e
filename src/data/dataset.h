#pragma once
// A dataset: a source of labelled images behind one interface, so that the batch loader, the
// trainer and the commands work with any of them. Each is chosen by name (--data NAME, registry.h)
// and opened from a directory (--data-dir). Its examples are decoded on the loader's worker
// threads, so get() must be safe to call concurrently.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eshift/data/transform.h"

namespace eshift {

// A decoded example. The pixels are a view, kept valid by `owner` (the dataset's storage, or the
// buffer an image was decoded into): an in-memory set hands out examples without copying or
// creating a tensor per image.
struct Example {
  const uint8_t* pixels = nullptr;     // uint8 [C, H, W], contiguous
  ImageShape shape;
  int64_t label = 0;                   // class index
  std::shared_ptr<const void> owner;   // keeps `pixels` alive

  // The pixels as a uint8 [C, H, W] tensor sharing the memory (for inspection and tests).
  torch::Tensor tensor() const {
    return torch::from_blob(const_cast<uint8_t*>(pixels), {shape.channels, shape.height, shape.width},
                            [keep = owner](void*) {}, torch::kUInt8);
  }
};

// Per-channel mean and (biased) std of a dataset's pixels in [0, 1] units: the normalization of the
// inputs of a model trained on it.
struct ChannelStats {
  std::vector<double> mean, std;
};

// How the training transform augments (flags --crop-padding, --no-flip).
struct AugmentOptions {
  int crop_padding = 2;  // random crop of the original size from the image zero-padded by this much; 0: none
  bool hflip = true;     // random horizontal flips
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual ImageShape image_shape() const = 0;  // of every decoded example
  virtual Example get(int64_t index) const = 0;
  // The examples at `indices`, in that order (a dataset that reads faster in bulk overrides this).
  virtual std::vector<Example> get_batch(const std::vector<int64_t>& indices) const {
    std::vector<Example> out;
    out.reserve(indices.size());
    for (int64_t i : indices) out.push_back(get(i));
    return out;
  }
  virtual ChannelStats channel_stats() const = 0;
  // The first n examples (1 <= n <= size()) as a dataset of their own.
  virtual std::shared_ptr<const Dataset> head(int64_t n) const = 0;

  // Its transforms: training (augmentation, then normalization by `normalization`, the training
  // set's statistics) and evaluation (normalization only). Today's datasets share the defaults.
  virtual std::unique_ptr<Transform> train_transform(const AugmentOptions& augment, const ChannelStats& normalization) const {
    return std::make_unique<PadCropFlip>(augment.crop_padding, augment.hflip, normalization.mean, normalization.std);
  }
  virtual std::unique_ptr<Transform> eval_transform(const ChannelStats& normalization) const {
    return std::make_unique<PadCropFlip>(0, false, normalization.mean, normalization.std);
  }
};

}  // namespace eshift
