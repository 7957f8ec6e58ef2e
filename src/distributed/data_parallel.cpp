#include "eshift/distributed/data_parallel.h"

#include <sstream>

#include "eshift/nn/sync_batch_norm.h"

namespace eshift {

DataParallel::DataParallel(std::shared_ptr<Communicator> communicator, torch::nn::Module& model,
                           DataParallelOptions options)
    : communicator_(std::move(communicator)), model_(model), options_(options),
      device_(communicator_->backend() == "nccl" ? model.parameters().front().device() : torch::Device(torch::kCPU)) {
  std::vector<torch::Tensor> state = model_.parameters();
  for (const auto& b : model_.buffers()) state.push_back(b);
  communicator_->broadcast(state, "the broadcast of rank 0's parameters");
  reducer_ = std::make_unique<GradientReducer>(communicator_, model_.parameters(), options_.bucket_bytes, options_.overlap);
  if (options_.sync_bn) {
    Communicator* c = communicator_.get();
    set_batch_norm_sync([c](torch::Tensor& t) { c->all_reduce(t, "synchronized BatchNorm's all-reduce"); });
  }
}

DataParallel::~DataParallel() {
  if (options_.sync_bn) set_batch_norm_sync(nullptr);
}

bool DataParallel::after_backward(torch::Tensor& loss, bool stop) {
  reducer_->finish();
  torch::NoGradGuard no_grad;
  auto packet = torch::stack({loss.detach().to(device_, torch::kDouble).reshape({}),
                              torch::tensor(stop ? 1.0 : 0.0, torch::TensorOptions().dtype(torch::kDouble).device(device_))});
  communicator_->all_reduce(packet, "the loss's all-reduce");
  loss = (packet[0] / world_size()).to(loss.device(), loss.scalar_type());
  return packet[1].item<double>() > 0;
}

void DataParallel::check_identical(int64_t step) {
  if (options_.check_every <= 0 || step % options_.check_every != 0) return;
  torch::NoGradGuard no_grad;
  const auto named = model_.named_parameters();
  std::vector<torch::Tensor> flat;
  for (const auto& p : named) flat.push_back(p.value().detach().reshape(-1).to(torch::kDouble));
  auto low = torch::cat(flat).to(device_);
  auto high = low.clone();
  communicator_->all_reduce(low, "the parameter check's all-reduce", ReduceOp::kMin);
  communicator_->all_reduce(high, "the parameter check's all-reduce", ReduceOp::kMax);
  if (torch::equal(low, high)) return;
  int64_t offset = 0;
  for (const auto& p : named) {
    const int64_t n = p.value().numel();
    auto lo = low.narrow(0, offset, n), hi = high.narrow(0, offset, n);
    if (!torch::equal(lo, hi)) {
      std::ostringstream s;
      s << "parameters differ between ranks after step " << step << ": " << p.key() << " (largest difference "
        << (hi - lo).abs().max().item<double>() << "); the ranks no longer train the same model";
      throw DistributedError(s.str());
    }
    offset += n;
  }
}

void DataParallel::broadcast_buffers() {
  if (options_.sync_bn) return;  // identical already
  communicator_->broadcast(model_.buffers(), "the broadcast of rank 0's BatchNorm statistics");
}

std::vector<double> DataParallel::sum(const std::vector<double>& values) {
  auto t = torch::tensor(values, torch::TensorOptions().dtype(torch::kDouble)).to(device_);
  communicator_->all_reduce(t, "the metrics' all-reduce");
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

double DataParallel::take_wait_seconds() {
  const double s = reducer_->wait_seconds();
  reducer_->reset_wait_seconds();
  return s;
}

}  // namespace eshift
