#include "eshift/data/image_set.h"

#include <cstdio>

#include "eshift/core/checksum.h"

namespace eshift {

ImageSet ImageSet::head(int64_t n) const {
  TORCH_CHECK(n >= 1 && n <= size(), "asked for ", n, " examples of a set of ", size());
  return {images.narrow(0, 0, n), labels.narrow(0, 0, n), num_classes};
}

ChannelStats channel_stats(const ImageSet& set) {
  auto x = set.images.to(torch::kFloat64).div(255.0).transpose(0, 1).reshape({set.images.size(1), -1});
  auto mean = x.mean(1), std = x.std(1, /*unbiased=*/false);
  return {std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel()),
          std::vector<double>(std.data_ptr<double>(), std.data_ptr<double>() + std.numel())};
}

ImageSetDataset::ImageSetDataset(ImageSet set) : set_(std::move(set)) {
  TORCH_CHECK(set_.images.dim() == 4 && set_.images.scalar_type() == torch::kUInt8,
              "images must be uint8 [N, C, H, W]");
  TORCH_CHECK(set_.labels.dim() == 1 && set_.labels.size(0) == set_.images.size(0),
              "need one label per image");
  set_.images = set_.images.contiguous();
  set_.labels = set_.labels.to(torch::kInt64).contiguous();
  storage_ = std::make_shared<const torch::Tensor>(set_.images);
}

ImageShape ImageSetDataset::image_shape() const {
  return {set_.images.size(1), set_.images.size(2), set_.images.size(3)};
}

Example ImageSetDataset::get(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < size(), "example ", index, " of a set of ", size());
  const auto shape = image_shape();
  return {set_.images.data_ptr<uint8_t>() + index * shape.numel(), shape, set_.labels.data_ptr<int64_t>()[index],
          storage_};
}

std::shared_ptr<const Dataset> ImageSetDataset::head(int64_t n) const {
  return std::make_shared<ImageSetDataset>(set_.head(n));
}

std::string ImageSetDataset::fingerprint() const {
  char crcs[48];
  std::snprintf(crcs, sizeof crcs, "pixels %08x, labels %08x",
                crc32c(set_.images.data_ptr<uint8_t>(), static_cast<size_t>(set_.images.numel())),
                crc32c(set_.labels.data_ptr<int64_t>(), static_cast<size_t>(set_.labels.numel()) * sizeof(int64_t)));
  return Dataset::fingerprint() + ", " + crcs;
}

}  // namespace eshift
