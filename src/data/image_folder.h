#pragma once
// ImageNet-style folders: <dir>/train/<class>/…/*.JPEG and <dir>/val/<class>/…/*.JPEG. As
// torchvision's ImageFolder: the classes are the training folder's subfolders sorted by name (byte
// order), so class indices agree with a PyTorch run on the same folders; the files are those with
// an image extension (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case), found recursively
// in sorted order. eshift decodes JPEGs (whatever the extension says); any other file counts as
// unreadable when it is met.
//
// Examples are the files' encoded bytes, read when the loader asks for them: the transforms decode
// them at the DCT scale their crop allows (data/jpeg_transforms.h). Nothing but the file list is
// held in memory, whatever the dataset's size.
#include <string>
#include <vector>

#include "eshift/data/dataset.h"

namespace eshift {

class ImageFolderDataset : public Dataset {
 public:
  // `split` is "train" or "val". Throws DataError naming the folder: missing, no class folders, a
  // class folder without images, a validation class the training folder lacks.
  ImageFolderDataset(const std::string& dir, const std::string& split, const DataOptions& options);

  int64_t size() const override { return static_cast<int64_t>(files_->size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  // the shape its transforms produce: 3 × image_size × image_size
  ImageShape image_shape() const override { return {3, options_.image_size, options_.image_size}; }
  // Reads the file; throws DataError naming it when it cannot be read.
  Example get(int64_t index) const override;
  // ImageNet's statistics as torchvision's models use them (mean 0.485 0.456 0.406, std 0.229
  // 0.224 0.225), not computed from the folder (that would decode every image).
  ChannelStats channel_stats() const override;
  // n files spread evenly over the sorted list (every class represented when n allows), not the
  // first n (which would be the first classes only).
  std::shared_ptr<const Dataset> head(int64_t n) const override;
  std::string fingerprint() const override;  // with the CRC-32C of every file's label and name
  std::unique_ptr<Transform> train_transform(const AugmentOptions& augment, const ChannelStats& normalization) const override;
  std::unique_ptr<Transform> eval_transform(const ChannelStats& normalization) const override;
  bool fatal_unreadable() const override { return options_.bad_images_fatal; }

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t index) const { return (*files_)[static_cast<size_t>(index)].path; }

  struct File {
    std::string path;
    int64_t label;
  };

 private:
  ImageFolderDataset(std::vector<std::string> classes, std::shared_ptr<const std::vector<File>> files, DataOptions options)
      : classes_(std::move(classes)), files_(std::move(files)), options_(options) {}
  std::vector<std::string> classes_;
  std::shared_ptr<const std::vector<File>> files_;
  DataOptions options_;
};

// The class folders of an ImageFolder directory, sorted by name (torchvision's find_classes).
std::vector<std::string> find_classes(const std::string& dir);

}  // namespace eshift
