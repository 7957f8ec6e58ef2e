#pragma once
// Gradient averaging for data parallelism, overlapped with backward (what PyTorch's DDP Reducer
// does, on eshift's Communicator):
//   - the parameters are cut into buckets of about `bucket_bytes`, in reverse parameter order (the
//     order backward produces their gradients);
//   - a hook on each parameter copies its gradient into its bucket's flat buffer as soon as autograd
//     has it; when a bucket and every bucket before it are complete, their all-reduces start, on the
//     process group's threads, while backward goes on with the earlier layers;
//   - finish() (after backward) starts what is left, waits, and writes gradient = sum / world size
//     into every parameter's .grad. A parameter that got no gradient this step counts as zero.
// Buckets always start in index order, so every rank issues the same collectives in the same order.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <vector>

#include "eshift/distributed/communicator.h"

namespace eshift {

class GradientReducer {
 public:
  // overlap = false: every all-reduce starts in finish() (to measure what the overlap saves).
  GradientReducer(std::shared_ptr<Communicator> communicator, std::vector<torch::Tensor> parameters,
                  int64_t bucket_bytes = 25 << 20, bool overlap = true);
  ~GradientReducer();  // removes its hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward: every gradient averaged over the ranks.
  void finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Seconds finish() spent waiting for all-reduces since the last reset: the communication that
  // backward did not hide.
  double wait_seconds() const { return wait_seconds_; }
  void reset_wait_seconds() { wait_seconds_ = 0; }

 private:
  struct Bucket {
    std::vector<int64_t> params;  // indices into parameters_
    torch::Tensor flat;           // their gradients, one after the other
    int64_t ready = 0;            // gradients copied in this step
    Communicator::Waiter waiter;  // set once started
  };
  void on_gradient(int64_t param, const torch::Tensor& grad);
  void start_ready_buckets();
  void start(Bucket& bucket);

  std::shared_ptr<Communicator> communicator_;
  std::vector<torch::Tensor> parameters_;
  std::vector<Bucket> buckets_;
  std::vector<int64_t> bucket_of_, offset_of_;  // per parameter
  std::vector<char> arrived_;                   // per parameter, this step
  std::vector<std::pair<int64_t, unsigned>> hooks_;  // (parameter, hook handle)
  int64_t next_to_start_ = 0;
  bool overlap_;
  double wait_seconds_ = 0;
};

}  // namespace eshift
