#pragma once
// A loader: one epoch of a dataset's batches, in order. BatchLoader (batch_loader.h) batches
// classification images of one size; DetectionLoader (detection_loader.h) images of any size with
// their objects. The trainer reads either through this interface (data_split.h makes them).
#include <cstdint>
#include <optional>

#include "eshift/data/batch.h"

namespace eshift {

class Loader {
 public:
  virtual ~Loader() = default;
  // The next batch, or nullopt at the end of the epoch; an error in a worker is rethrown here.
  virtual std::optional<Batch> next() = 0;
  virtual int64_t num_batches() const = 0;
};

}  // namespace eshift
