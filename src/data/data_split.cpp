#include "eshift/data/data_split.h"

#include "eshift/data/detection_loader.h"

namespace eshift {

ImageSplit::ImageSplit(std::shared_ptr<const Dataset> dataset, std::unique_ptr<Transform> transform)
    : dataset_(std::move(dataset)), transform_(std::move(transform)) {
  TORCH_CHECK(dataset_ && transform_, "a split needs a dataset and a transform");
}

std::string ImageSplit::describe() const {
  return dataset_->image_shape().str() + ", " + std::to_string(dataset_->num_classes()) + " classes";
}

std::unique_ptr<Loader> ImageSplit::loader(const LoaderOptions& options, int epoch) const {
  return std::make_unique<BatchLoader>(dataset_, *transform_, options, epoch);
}

CocoSplit::CocoSplit(std::shared_ptr<const CocoDataset> dataset, DetectionTransformOptions transform, int64_t stride)
    : dataset_(std::move(dataset)), transform_(std::move(transform)), stride_(stride) {
  TORCH_CHECK(dataset_, "a split needs a dataset");
}

std::string CocoSplit::describe() const {
  const auto& o = transform_.options();
  return "of any size (resized to " + std::to_string(o.min_size) + "–" + std::to_string(o.max_size) + ", padded to " +
         std::to_string(stride_) + "), " + std::to_string(dataset_->num_classes() - 1) + " categories, " +
         (dataset_->has_masks() ? "boxes and masks" : "boxes");
}

std::unique_ptr<Loader> CocoSplit::loader(const LoaderOptions& options, int epoch) const {
  return std::make_unique<DetectionLoader>(dataset_, transform_, options, epoch, stride_);
}

}  // namespace eshift
