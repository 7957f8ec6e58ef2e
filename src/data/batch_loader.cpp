#include "eshift/data/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "eshift/core/errors.h"

namespace eshift {

int64_t batches_of(int64_t positions, const LoaderOptions& o) {
  return o.drop_last ? positions / o.batch_size : (positions + o.batch_size - 1) / o.batch_size;
}

int64_t batches_per_epoch(int64_t n, const LoaderOptions& o) {
  return batches_of(static_cast<int64_t>(shard_positions(n, o.rank, o.world_size, o.pad).size()), o);
}

BatchLoader::BatchLoader(std::shared_ptr<const Dataset> dataset, const Transform& transform, LoaderOptions options,
                         int epoch)
    : dataset_(std::move(dataset)), transform_(transform.clone()), options_(std::move(options)) {
  TORCH_CHECK(dataset_, "the loader needs a dataset");
  TORCH_CHECK(options_.batch_size >= 1, "batch size must be >= 1, got ", options_.batch_size);
  TORCH_CHECK(options_.workers >= 1, "the loader needs at least one worker, got ", options_.workers);
  input_shape_ = dataset_->image_shape();
  output_shape_ = transform_->output_shape(input_shape_);
  const int64_t n = dataset_->size();
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
  if (options_.shuffle) std::shuffle(order_.begin(), order_.end(), rng);
  transform_->draw_epoch(rng, n);
  positions_ = shard_positions(n, options_.rank, options_.world_size, options_.pad);
  num_batches_ = batches_of(static_cast<int64_t>(positions_.size()), options_);
  prefetch();
}

BatchLoader::~BatchLoader() {
  for (auto& f : pending_)
    if (f.valid()) f.wait();  // workers read this loader's members
}

void BatchLoader::prefetch() {
  while (requested_ < num_batches_ && int64_t(pending_.size()) < options_.workers) {
    const int64_t i = requested_++;
    pending_.push_back(std::async(std::launch::async, [this, i] { return make_batch(i); }));
  }
}

std::optional<Batch> BatchLoader::next() {
  if (next_ >= num_batches_) return std::nullopt;
  auto ready = std::move(pending_.front());
  pending_.pop_front();
  Batch b = ready.get();  // rethrows a worker's error
  ++next_;
  prefetch();
  return b;
}

Batch BatchLoader::make_batch(int64_t index) const {
  const int64_t begin = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, static_cast<int64_t>(positions_.size()) - begin);
  const auto& s = output_shape_;
  auto inputs = torch::empty({count, s.channels, s.height, s.width},
                             torch::TensorOptions(torch::kFloat32).pinned_memory(options_.pin_memory));
  auto targets = torch::empty({count}, torch::kInt64);
  float* out = inputs.data_ptr<float>();
  int64_t* labels = targets.data_ptr<int64_t>();
  Batch batch;
  std::vector<int64_t> good;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t example = order_[positions_[begin + b]], position = positions_[begin + b];
    try {
      const Example ex = dataset_->get(example);
      TORCH_CHECK(ex.encoded() || ex.shape.numel() == input_shape_.numel(), "example ", example, " has shape ",
                  ex.shape.str(), ", the dataset's is ", input_shape_.str());
      transform_->apply_example(ex, position, out + b * s.numel());  // the position's own draw
      labels[b] = ex.label;
      good.push_back(b);
    } catch (const DataError& e) {
      if (dataset_->fatal_unreadable()) throw;
      batch.unreadable.push_back(e.what());
    }
  }
  if (!batch.unreadable.empty()) {
    if (good.empty())
      throw DataError("every example of a batch is unreadable (" + std::to_string(count) + ", the first: " +
                      batch.unreadable.front() + ")");
    if (options_.keep_batch_size) {  // fill the gaps with the batch's readable examples, in turn
      for (int64_t b = 0, next = 0; b < count; ++b)
        if (!std::binary_search(good.begin(), good.end(), b)) {
          const int64_t from = good[static_cast<size_t>(next++) % good.size()];
          inputs[b].copy_(inputs[from]);
          labels[b] = labels[from];
        }
    } else {
      const auto keep = torch::tensor(good, torch::kInt64);
      inputs = inputs.index_select(0, keep);
      targets = targets.index_select(0, keep);
      if (options_.pin_memory) inputs = inputs.pin_memory();
    }
  }
  batch.inputs = inputs;
  batch.targets = targets;
  return batch;
}

}  // namespace eshift
