#pragma once
// One split of a run's data as the trainer reads it: a dataset, the transform its examples go
// through and the loader that batches them, epoch by epoch. The task opens the splits of a run
// (tasks/task.h: Task::open_data), so the trainer never knows whether a batch holds one label per
// image of one size (ImageSplit) or images of any size with their objects (CocoSplit).
#include <cstdint>
#include <memory>
#include <string>

#include "eshift/data/batch_loader.h"
#include "eshift/data/coco_dataset.h"
#include "eshift/data/dataset.h"
#include "eshift/data/detection.h"
#include "eshift/data/loader.h"

namespace eshift {

class DataSplit {
 public:
  virtual ~DataSplit() = default;
  virtual int64_t size() const = 0;
  // What the examples are, in one line (Dataset::fingerprint): equal on every data-parallel rank.
  virtual std::string fingerprint() const = 0;
  // The examples' shape and classes for the run's header: "1x28x28, 10 classes".
  virtual std::string describe() const = 0;
  // Whether an unreadable example stops the run (else the loader skips it, counted).
  virtual bool fatal_unreadable() const = 0;
  // The batches of `epoch`; the options' batch size, order, sharding and workers apply.
  virtual std::unique_ptr<Loader> loader(const LoaderOptions& options, int epoch) const = 0;
};

// A classification dataset through its transform, batched by BatchLoader.
class ImageSplit : public DataSplit {
 public:
  ImageSplit(std::shared_ptr<const Dataset> dataset, std::unique_ptr<Transform> transform);
  int64_t size() const override { return dataset_->size(); }
  std::string fingerprint() const override { return dataset_->fingerprint(); }
  std::string describe() const override;
  bool fatal_unreadable() const override { return dataset_->fatal_unreadable(); }
  std::unique_ptr<Loader> loader(const LoaderOptions& options, int epoch) const override;
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }
  const Transform& transform() const { return *transform_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::unique_ptr<Transform> transform_;
};

// COCO images through the detection transform, batched by DetectionLoader (padded to `stride`).
class CocoSplit : public DataSplit {
 public:
  CocoSplit(std::shared_ptr<const CocoDataset> dataset, DetectionTransformOptions transform, int64_t stride = 32);
  int64_t size() const override { return dataset_->size(); }
  std::string fingerprint() const override { return dataset_->fingerprint(); }
  std::string describe() const override;
  bool fatal_unreadable() const override { return dataset_->fatal_unreadable(); }
  std::unique_ptr<Loader> loader(const LoaderOptions& options, int epoch) const override;
  const std::shared_ptr<const CocoDataset>& dataset() const { return dataset_; }
  const DetectionTransform& transform() const { return transform_; }

 private:
  std::shared_ptr<const CocoDataset> dataset_;
  DetectionTransform transform_;
  int64_t stride_;
};

// The data of a run as its task opened it.
struct TaskData {
  std::shared_ptr<const DataSplit> train, eval;
  ChannelStats normalization;  // the inputs' normalization (stored in checkpoints)
  int64_t in_channels = 3;     // what the model is built for
  int64_t num_classes = 0;     // classification: the classes; detection: the categories + background
  ImageShape audit_shape;      // an input shape at which the scale-invariance audit can run the model
};

}  // namespace eshift
