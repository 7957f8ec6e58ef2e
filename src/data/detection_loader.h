#pragma once
// The detection loader: COCO images with their targets, transformed and collated into padded
// batches (detection.h) on worker threads. The same epoch rules as the classification loader
// (batch_loader.h): the order and the transform's flips are drawn up front from one generator seeded
// by (seed, epoch), a data-parallel process takes its share of the positions (sampler.h), so an
// epoch's batches do not depend on thread timing.
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eshift/data/batch_loader.h"
#include "eshift/data/coco_dataset.h"
#include "eshift/data/detection.h"
#include "eshift/data/loader.h"

namespace eshift {

class DetectionLoader : public Loader {
 public:
  // Of the options, batch_size, shuffle, drop_last, seed, workers, rank, world_size, pad and
  // keep_batch_size apply (pin_memory does not yet).
  DetectionLoader(std::shared_ptr<const CocoDataset> dataset, const DetectionTransform& transform,
                  LoaderOptions options, int epoch, int64_t stride = 32);
  ~DetectionLoader();
  DetectionLoader(const DetectionLoader&) = delete;
  DetectionLoader& operator=(const DetectionLoader&) = delete;

  // The next batch (collate_detection's), or nullopt at the end of the epoch; an error in a worker
  // is rethrown here. Images that cannot be read (a DataError, unless the dataset's errors are
  // fatal) are left out of their batch, or replaced by the batch's first readable one when the
  // batch keeps its size, and their messages are in `unreadable` of the batch they belonged to.
  std::optional<Batch> next() override;
  int64_t num_batches() const override { return num_batches_; }
  Batch make_batch(int64_t i) const;

 private:
  void prefetch();

  std::shared_ptr<const CocoDataset> dataset_;
  DetectionTransform transform_;
  LoaderOptions options_;
  int64_t stride_;
  std::vector<int64_t> order_, positions_;
  int64_t num_batches_ = 0, next_ = 0, requested_ = 0;
  std::deque<std::future<Batch>> pending_;
};

}  // namespace eshift
