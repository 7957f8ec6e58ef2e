#include "eshift/distributed/gradient_reducer.h"

namespace eshift {

GradientReducer::GradientReducer(std::shared_ptr<Communicator> communicator, std::vector<torch::Tensor> parameters,
                                 int64_t bucket_bytes, bool overlap)
    : communicator_(std::move(communicator)), parameters_(std::move(parameters)), overlap_(overlap) {
  TORCH_CHECK(bucket_bytes > 0, "the bucket size must be positive");
  const int64_t n = static_cast<int64_t>(parameters_.size());
  bucket_of_.assign(n, -1);
  offset_of_.assign(n, 0);
  arrived_.assign(n, 0);
  // reverse parameter order; a new bucket when the dtype or device changes or the bucket is full
  int64_t bytes = 0;
  for (int64_t i = n - 1; i >= 0; --i) {
    const auto& p = parameters_[i];
    if (!p.requires_grad()) continue;
    const bool fits = !buckets_.empty() && bytes + p.numel() * p.element_size() <= bucket_bytes &&
                      parameters_[buckets_.back().params.front()].scalar_type() == p.scalar_type() &&
                      parameters_[buckets_.back().params.front()].device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    bucket_of_[i] = static_cast<int64_t>(buckets_.size()) - 1;
    offset_of_[i] = bytes / p.element_size();
    bytes += p.numel() * p.element_size();
    buckets_.back().params.push_back(i);
  }
  for (auto& b : buckets_) {
    int64_t numel = 0;
    for (int64_t i : b.params) numel += parameters_[i].numel();
    const auto& first = parameters_[b.params.front()];
    b.flat = torch::zeros({numel}, first.options().requires_grad(false));
  }
  if (overlap_)
    for (int64_t i = 0; i < n; ++i)
      if (bucket_of_[i] >= 0)
        hooks_.emplace_back(i, parameters_[i].register_hook([this, i](torch::Tensor grad) { on_gradient(i, grad); }));
}

GradientReducer::~GradientReducer() {
  for (auto [i, handle] : hooks_) parameters_[i].remove_hook(handle);
}

void GradientReducer::on_gradient(int64_t param, const torch::Tensor& grad) {
  // autograd has summed every contribution to this parameter: this is its whole gradient
  auto& bucket = buckets_[bucket_of_[param]];
  if (arrived_[param] || bucket.waiter) return;  // a second backward in one step: the bucket is on its way
  torch::NoGradGuard no_grad;
  const auto& p = parameters_[param];
  bucket.flat.narrow(0, offset_of_[param], p.numel()).view(p.sizes()).copy_(grad);
  arrived_[param] = 1;
  if (++bucket.ready == static_cast<int64_t>(bucket.params.size())) start_ready_buckets();
}

void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < num_buckets() &&
         buckets_[next_to_start_].ready == static_cast<int64_t>(buckets_[next_to_start_].params.size()))
    start(buckets_[next_to_start_++]);
}

void GradientReducer::start(Bucket& bucket) {
  bucket.waiter = communicator_->all_reduce_async(bucket.flat, "the gradients' all-reduce");
}

void GradientReducer::finish() {
  torch::NoGradGuard no_grad;
  // what the hooks did not see: gradients without hooks (overlap off) or that never came (zero)
  for (; next_to_start_ < num_buckets(); ++next_to_start_) {
    auto& bucket = buckets_[next_to_start_];
    for (int64_t i : bucket.params) {
      if (arrived_[i]) continue;
      const auto& p = parameters_[i];
      auto slot = bucket.flat.narrow(0, offset_of_[i], p.numel());
      if (p.grad().defined()) slot.view(p.sizes()).copy_(p.grad());
      else slot.zero_();
    }
    start(bucket);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& bucket : buckets_) bucket.waiter();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double scale = 1.0 / communicator_->world_size();
  for (auto& bucket : buckets_) {
    bucket.flat.mul_(scale);
    for (int64_t i : bucket.params) {
      auto& p = parameters_[i];
      auto averaged = bucket.flat.narrow(0, offset_of_[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(averaged);
      else p.mutable_grad() = averaged.clone().contiguous(p.suggest_memory_format());
      arrived_[i] = 0;
    }
    bucket.ready = 0;
    bucket.waiter = nullptr;
  }
  next_to_start_ = 0;
}

}  // namespace eshift
