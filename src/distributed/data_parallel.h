#pragma once
// Data parallelism for one model, on a Communicator (what the trainer uses when WORLD_SIZE > 1):
//   - at the start, rank 0's parameters and buffers are copied to every rank (a broadcast);
//   - after backward, the gradients are averaged (GradientReducer: bucketed, overlapped with
//     backward), and so is the loss, and the ranks agree on whether to stop (a signal reached any
//     of them): every rank then takes the same optimizer step, or none;
//   - --sync-bn: BatchNorm statistics over all ranks (nn/sync_batch_norm.h); without it each rank
//     normalizes with its own batch and keeps its own running statistics, and rank 0's are copied
//     to the others before evaluation (what DDP's broadcast_buffers leaves in rank 0's model);
//   - every `check_every` steps, the parameters are compared bit for bit across ranks (a MIN and a
//     MAX all-reduce must agree): the regularizer and the optimizer must run identically everywhere.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "eshift/distributed/communicator.h"
#include "eshift/distributed/gradient_reducer.h"

namespace eshift {

struct DataParallelOptions {
  int64_t bucket_bytes = 25 << 20;  // gradient buckets (--bucket-mb)
  bool overlap = true;              // start each bucket's all-reduce during backward (--no-dist-overlap: after it)
  bool sync_bn = false;             // BatchNorm statistics over all ranks (--sync-bn)
  int check_every = 0;              // steps between bit-identity checks of the parameters (0: never)
};

class DataParallel {
 public:
  // Broadcasts rank 0's parameters and buffers and hooks the gradients of `model`, which must outlive this.
  DataParallel(std::shared_ptr<Communicator> communicator, torch::nn::Module& model, DataParallelOptions options);
  ~DataParallel();  // turns --sync-bn's process-wide BatchNorm sum off again

  Communicator& communicator() { return *communicator_; }
  int rank() const { return communicator_->rank(); }
  int world_size() const { return communicator_->world_size(); }

  // After backward: the gradients and `loss` are the means over the ranks; returns true on every rank
  // when `stop` is true on any of them.
  bool after_backward(torch::Tensor& loss, bool stop);
  // After step `step`: every check_every steps, throws DistributedError naming the first parameter
  // that differs between ranks.
  void check_identical(int64_t step);
  // Rank 0's buffers (BatchNorm running statistics) on every rank; a no-op with --sync-bn.
  void broadcast_buffers();
  // Element-wise sums over the ranks (metric sums).
  std::vector<double> sum(const std::vector<double>& values);

  // Seconds spent waiting for gradient all-reduces after backward, since the last call.
  double take_wait_seconds();

 private:
  std::shared_ptr<Communicator> communicator_;
  torch::nn::Module& model_;
  DataParallelOptions options_;
  std::unique_ptr<GradientReducer> reducer_;
  torch::Device device_;  // where the collectives' small tensors live
};

}  // namespace eshift
