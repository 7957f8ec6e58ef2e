#pragma once
// The processes of a data-parallel run, connected: a rendezvous on rank 0's TCPStore and a c10d
// process group over it (ProcessGroupGloo on CPU; ProcessGroupNCCL for CUDA tensors in a LibTorch
// built with it). The collectives eshift needs, with every failure turned into one line that names
// the rank at fault:
//   - connecting: a port in use, an unreachable master, a mismatched WORLD_SIZE, ranks that do not
//     join within the timeout;
//   - a collective that fails (a rank died: its sockets close) or does not finish within the timeout
//     (a rank hangs): the survivors ask each other through the store which ranks still answer, and
//     name the ones that do not.
// The timeout is set explicitly on the store and the process group (Gloo's default differs between
// LibTorch versions). On a multi-homed host, GLOO_SOCKET_IFNAME (NCCL_SOCKET_IFNAME) chooses the
// network interface, as in PyTorch.
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "eshift/distributed/environment.h"

namespace eshift {

// A distributed run that cannot go on: a rank died or hangs, the rendezvous failed.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ReduceOp { kSum, kMin, kMax };

class Communicator {
 public:
  // Connects this process to the others (blocks until all WORLD_SIZE ranks joined, at most `timeout`).
  // `device`: where the tensors of the collectives live (CPU: Gloo; CUDA: NCCL).
  Communicator(const DistEnvironment& env, std::chrono::milliseconds timeout, torch::Device device = torch::kCPU);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const DistEnvironment& environment() const { return env_; }
  std::string backend() const;  // "gloo" or "nccl"

  // Starts an all-reduce of a contiguous tensor in place; the returned function waits for it (and
  // throws DistributedError). `what` names it in errors ("the gradients' all-reduce").
  using Waiter = std::function<void()>;
  Waiter all_reduce_async(torch::Tensor tensor, const std::string& what, ReduceOp op = ReduceOp::kSum);
  void all_reduce(torch::Tensor tensor, const std::string& what, ReduceOp op = ReduceOp::kSum);
  // Rank 0's values of the tensors, in place on every rank (any layout and dtype).
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what);
  // `root`'s bytes in `bytes` on every rank (any length: the length goes first).
  void broadcast_bytes(std::string& bytes, int root, const std::string& what);

  // Every rank calls it at the same point with what went wrong on it there (empty: nothing). When
  // every rank reports nothing it returns nothing; otherwise every rank gets the report of the
  // lowest rank that has one (and its number), so that all of them stop with the same line instead
  // of waiting for a rank that stopped.
  struct Report {
    int rank = -1;
    std::string text;
  };
  std::optional<Report> agree(const std::string& problem, const std::string& what);

 private:
  struct State;
  // A collective failed with `reason`: which ranks still answer (through the store), as an exception.
  [[noreturn]] void fail(const std::string& what, const std::string& reason);

  DistEnvironment env_;
  std::chrono::milliseconds timeout_;
  torch::Device device_;  // where the tensors of the collectives live
  std::unique_ptr<State> state_;
};

}  // namespace eshift
