#include "eshift/data/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace eshift {

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
  const int64_t m = static_cast<int64_t>(positions_.size());
  num_batches_ = options_.drop_last ? m / options_.batch_size : (m + options_.batch_size - 1) / options_.batch_size;
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
  std::vector<int64_t> indices(count);
  for (int64_t b = 0; b < count; ++b) indices[b] = order_[positions_[begin + b]];
  const auto examples = dataset_->get_batch(indices);
  const auto& s = output_shape_;
  auto inputs = torch::empty({count, s.channels, s.height, s.width}, torch::kFloat32);
  auto targets = torch::empty({count}, torch::kInt64);
  float* out = inputs.data_ptr<float>();
  int64_t* labels = targets.data_ptr<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    const auto& ex = examples[b];
    TORCH_CHECK(ex.shape.numel() == input_shape_.numel(), "example ", indices[b], " has shape ", ex.shape.str(),
                ", the dataset's is ", input_shape_.str());
    transform_->apply(ex.pixels, ex.shape, positions_[begin + b], out + b * s.numel());  // the position's own draw
    labels[b] = examples[b].label;
  }
  return {inputs, targets};
}

}  // namespace eshift
