#pragma once
// The batch loader: any dataset, any transform, batches prepared ahead of the model on worker
// threads.
//
// Every random choice of an epoch is drawn up front from one generator seeded by (seed, epoch):
// first the order (a shuffle of 0..N-1), then the transform's choices for each position (random
// crop offsets, flips). An epoch's batches are therefore the same whatever the thread timing, a run
// resumed at an epoch boundary sees exactly the batches an uninterrupted one would, and a process
// of a data-parallel run can take its share of the positions of the same order.
#include <torch/torch.h>

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "eshift/data/batch.h"
#include "eshift/data/dataset.h"
#include "eshift/data/loader.h"
#include "eshift/data/sampler.h"

namespace eshift {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop a final partial batch
  uint64_t seed = 0;
  int workers = 1;         // batches prepared ahead, each on its own thread (memory: workers batches);
                           // 1: the next batch is prepared while the model trains on this one
  // A data-parallel process's share of the order (data/sampler.h): rank `rank` of `world_size`,
  // padded to equal shares for training; batch_size is then this process's part of the global batch.
  int rank = 0;
  int world_size = 1;
  bool pad = true;
  // An unreadable example (data/dataset.h: fatal_unreadable() false): true, its place is taken by
  // another example of the batch, so every batch keeps its size (and every data-parallel rank its
  // share); false, it is left out (evaluation).
  bool keep_batch_size = true;
  bool pin_memory = false;  // batches in page-locked memory (faster, asynchronous copies to a GPU)
};

// The batches a rank's share of `positions` examples gives with these options (drop_last: full ones).
int64_t batches_of(int64_t positions, const LoaderOptions& options);
// The batches an epoch of n examples gives with these options (every rank the same count).
int64_t batches_per_epoch(int64_t n, const LoaderOptions& options);

class BatchLoader : public Loader {
 public:
  // The transform is copied and draws this epoch's choices.
  BatchLoader(std::shared_ptr<const Dataset> dataset, const Transform& transform, LoaderOptions options, int epoch);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch, or nullopt at the end of the epoch. An error in a worker (a damaged example)
  // is rethrown here.
  std::optional<Batch> next() override;
  int64_t num_batches() const override { return num_batches_; }

  // Builds batch i of this epoch synchronously (what the worker threads run).
  Batch make_batch(int64_t i) const;

 private:
  void prefetch();

  std::shared_ptr<const Dataset> dataset_;
  std::unique_ptr<Transform> transform_;
  LoaderOptions options_;
  ImageShape input_shape_, output_shape_;
  std::vector<int64_t> order_;      // the epoch's order of the whole dataset
  std::vector<int64_t> positions_;  // this process's positions in it (data/sampler.h)
  int64_t num_batches_ = 0;
  int64_t next_ = 0;        // the next batch next() returns
  int64_t requested_ = 0;   // batches handed to workers so far
  std::deque<std::future<Batch>> pending_;
};

}  // namespace eshift
