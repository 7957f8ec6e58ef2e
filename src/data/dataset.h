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

#include "eshift/data/jpeg.h"
#include "eshift/data/transform.h"

namespace eshift {

// Per-channel mean and (biased) std of a dataset's pixels in [0, 1] units: the normalization of the
// inputs of a model trained on it.
struct ChannelStats {
  std::vector<double> mean, std;
};

// Choices of the dataset itself that a run makes (flags of train and eval); each opener reads those
// that concern it.
struct DataOptions {
  bool cifar100_coarse = false;   // CIFAR-100: the 20 superclasses instead of the 100 classes
  bool bad_images_fatal = false;  // image folders: an unreadable image stops the run (else: skipped, counted)
  int image_size = 224;           // image folders: side of the training crop and the evaluation center crop
  int64_t max_image_pixels = kDefaultMaxImagePixels;  // image folders: a JPEG declaring more is damaged (jpeg.h)
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
  // Whether an example that cannot be decoded (a damaged file) stops the run; otherwise the loader
  // skips it with a warning and counts it (batch.h). In-memory sets never meet one.
  virtual bool fatal_unreadable() const { return true; }
  // The first n examples (1 <= n <= size()) as a dataset of their own.
  virtual std::shared_ptr<const Dataset> head(int64_t n) const = 0;
  // What the examples are, in one line, so that the processes of a data-parallel run can check they
  // read the same data: size, classes, shape, and a CRC-32C of the content (in-memory sets: pixels
  // and labels) or of the file list (image folders: labels and file names).
  virtual std::string fingerprint() const {
    return std::to_string(size()) + " examples " + image_shape().str() + ", " + std::to_string(num_classes()) + " classes";
  }

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
