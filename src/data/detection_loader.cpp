#include "eshift/data/detection_loader.h"

#include <numeric>
#include <random>

#include "eshift/core/errors.h"
#include "eshift/data/sampler.h"

namespace eshift {

DetectionLoader::DetectionLoader(std::shared_ptr<const CocoDataset> dataset, const DetectionTransform& transform,
                                 LoaderOptions options, int epoch, int64_t stride)
    : dataset_(std::move(dataset)), transform_(transform), options_(std::move(options)), stride_(stride) {
  TORCH_CHECK(dataset_, "the loader needs a dataset");
  TORCH_CHECK(options_.batch_size >= 1, "batch size must be >= 1, got ", options_.batch_size);
  TORCH_CHECK(options_.workers >= 1, "the loader needs at least one worker, got ", options_.workers);
  const int64_t n = dataset_->size();
  order_.resize(size_t(n));
  std::iota(order_.begin(), order_.end(), 0);
  std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
  if (options_.shuffle) std::shuffle(order_.begin(), order_.end(), rng);
  transform_.draw_epoch(rng, n);
  positions_ = shard_positions(n, options_.rank, options_.world_size, options_.pad);
  num_batches_ = batches_of(static_cast<int64_t>(positions_.size()), options_);
  prefetch();
}

DetectionLoader::~DetectionLoader() {
  for (auto& f : pending_)
    if (f.valid()) f.wait();
}

void DetectionLoader::prefetch() {
  while (requested_ < num_batches_ && int64_t(pending_.size()) < options_.workers) {
    const int64_t i = requested_++;
    pending_.push_back(std::async(std::launch::async, [this, i] { return make_batch(i); }));
  }
}

std::optional<Batch> DetectionLoader::next() {
  if (next_ >= num_batches_) return std::nullopt;
  auto ready = std::move(pending_.front());
  pending_.pop_front();
  Batch r = ready.get();
  ++next_;
  prefetch();
  return r;
}

Batch DetectionLoader::make_batch(int64_t index) const {
  const int64_t begin = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, int64_t(positions_.size()) - begin);
  std::vector<DetectionExample> examples;
  examples.reserve(size_t(count));
  std::vector<std::string> unreadable;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t position = positions_[size_t(begin + b)];
    const int64_t example = order_[size_t(position % int64_t(order_.size()))];
    try {
      examples.push_back(dataset_->get(example, transform_, position % int64_t(order_.size())));
    } catch (const DataError& e) {
      if (dataset_->fatal_unreadable()) throw;
      unreadable.push_back(e.what());
    }
  }
  if (examples.empty())
    throw DataError("every image of a batch is unreadable (" + std::to_string(count) + ", the first: " +
                    unreadable.front() + ")");
  if (options_.keep_batch_size)
    for (size_t k = 0, missing = size_t(count) - examples.size(); k < missing; ++k) examples.push_back(examples[k]);
  Batch batch = collate_detection(std::move(examples), stride_);
  batch.unreadable = std::move(unreadable);
  return batch;
}

}  // namespace eshift
