#pragma once
// Images held in memory as one uint8 tensor (MNIST-style and CIFAR-style sets), and the dataset
// over them.
#include <torch/torch.h>

#include <string>

#include "eshift/data/dataset.h"

namespace eshift {

struct ImageSet {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
  int64_t num_classes = 0;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // First n examples (a view); n larger than size() is an error.
  ImageSet head(int64_t n) const;
};

// Per-channel mean and std (biased) of a uint8 image set, in [0,1] units (summed in float64).
ChannelStats channel_stats(const ImageSet& set);

class ImageSetDataset : public Dataset {
 public:
  explicit ImageSetDataset(ImageSet set);
  int64_t size() const override { return set_.size(); }
  int64_t num_classes() const override { return set_.num_classes; }
  ImageShape image_shape() const override;
  Example get(int64_t index) const override;
  ChannelStats channel_stats() const override { return eshift::channel_stats(set_); }
  std::shared_ptr<const Dataset> head(int64_t n) const override;
  std::string fingerprint() const override;  // with the CRC-32C of the pixels and labels
  const ImageSet& images() const { return set_; }

 private:
  ImageSet set_;
  std::shared_ptr<const torch::Tensor> storage_;  // owns set_.images' memory for the examples' views
};

}  // namespace eshift
