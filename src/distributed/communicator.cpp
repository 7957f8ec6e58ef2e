#include "eshift/distributed/communicator.h"

// ProcessGroupGloo.hpp compiles only with USE_C10D_GLOO (pip's LibTorch defines it, Debian's does not)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(ESHIFT_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <torch/version.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

namespace eshift {

namespace {
std::string first_line_of(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 300) line = line.substr(0, 300) + "…";
  return line;
}

std::string seconds(std::chrono::milliseconds t) {
  std::ostringstream s;
  s << t.count() / 1000.0 << " s";
  return s.str();
}

std::string world_key(int rank) { return "eshift/world_size/" + std::to_string(rank); }
std::string failed_key(int rank) { return "eshift/failed/" + std::to_string(rank); }
std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }

// "1, 3": the ranks other than `self` whose key (key_of(rank)) the store does not hold
template <class KeyOf>
std::string ranks_without(c10d::Store& store, int world_size, int self, KeyOf key_of) {
  std::string out;
  for (int r = 0; r < world_size; ++r)
    if (r != self && !store.check({key_of(r)})) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

// c10d logs each socket failure of the rendezvous to stderr (through glog in Debian's LibTorch)
// before it throws the same text; while connecting, fd 2 goes to /dev/null so that the error is one line.
class QuietStderr {
 public:
  QuietStderr() : saved_(dup(2)) {
    const int null = open("/dev/null", O_WRONLY);
    if (saved_ >= 0 && null >= 0) dup2(null, 2);
    if (null >= 0) close(null);
  }
  ~QuietStderr() {
    if (saved_ < 0) return;
    dup2(saved_, 2);
    close(saved_);
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_;
};

c10d::ReduceOp c10d_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    default: return c10d::ReduceOp::SUM;
  }
}
}  // namespace

// The base class of the process groups: c10d::ProcessGroup in LibTorch 1.x, c10d::Backend in 2.x
// (the one c10d difference eshift meets; kept here rather than in core/torch_compat.h, which does
// not include the c10d headers).
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct Communicator::State {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
  std::string backend;
};

Communicator::Communicator(const DistEnvironment& env, std::chrono::milliseconds timeout, torch::Device device)
    : env_(env), timeout_(timeout), device_(device), state_(std::make_unique<State>()) {
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  // the rendezvous: rank 0 (or torchrun's agent) serves the store, every rank is its client
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(env.master_port);
  options.isServer = env.rank == 0 && !env.launcher_serves_store;  // torchrun's agent may serve it
  options.waitWorkers = false;  // joining is checked below, with messages that name the ranks
  options.timeout = timeout;
  QuietStderr quiet;
  try {
    state_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    // torchrun's agent may keep its store across restarts (PyTorch's env:// rendezvous once prefixed
    // each attempt's keys for that; 2.15's agent starts a new store per attempt): each attempt's keys
    // get a prefix of their own, so restarted ranks never find the last attempt's keys
    if (env.launcher_serves_store)
      state_->store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count),
                                                             state_->store);
  } catch (const std::exception& e) {
    const std::string reason = first_line_of(e.what());
    if (env.rank == 0 && (reason.find("in use") != std::string::npos || reason.find("bind") != std::string::npos))
      throw DistributedError("rank 0 cannot serve the rendezvous on " + where + ": the port is in use (choose another MASTER_PORT / --master-port): " + reason);
    if (env.rank == 0)
      throw DistributedError("rank 0 cannot serve the rendezvous on " + where + " (MASTER_ADDR/MASTER_PORT): " + reason);
    throw DistributedError(env.describe() + " cannot reach the rendezvous at " + where + " within --dist-timeout " +
                           seconds(timeout) + " (is rank 0 running? MASTER_ADDR/MASTER_PORT): " + reason);
  }
  auto& store = *state_->store;

  // every rank states its WORLD_SIZE; all must agree with rank 0's, and all must join in time
  try {
    if (store.add("eshift/rank_claimed/" + std::to_string(env.rank), 1) > 1)
      throw DistributedError("two processes have RANK " + std::to_string(env.rank) + " (rendezvous at " + where + ")");
    if (env.rank == 0) {
      store.set(world_key(0), bytes(std::to_string(env.world_size)));
      std::vector<std::string> keys;
      for (int r = 1; r < env.world_size; ++r) keys.push_back(world_key(r));
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!store.check(keys)) {
        if (std::chrono::steady_clock::now() > deadline) {
          const std::string missing = ranks_without(store, env.world_size, 0, world_key);
          throw DistributedError("rank(s) " + missing + " of WORLD_SIZE " + std::to_string(env.world_size) +
                                 " did not join the rendezvous at " + where + " within --dist-timeout " + seconds(timeout));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      for (int r = 1; r < env.world_size; ++r) {
        const auto value = store.get(world_key(r));
        const std::string theirs(value.begin(), value.end());
        if (theirs != std::to_string(env.world_size))
          throw DistributedError("rank " + std::to_string(r) + " has WORLD_SIZE " + theirs + " but rank 0 has " +
                                 std::to_string(env.world_size));
      }
    } else {
      // rank 0's WORLD_SIZE is read before this rank states its own: once rank 0 sees a mismatch it
      // stops serving the store, and a read after that would only say the connection closed
      store.wait({world_key(0)}, timeout);
      const auto value = store.get(world_key(0));
      const std::string theirs(value.begin(), value.end());
      store.set(world_key(env.rank), bytes(std::to_string(env.world_size)));
      if (theirs != std::to_string(env.world_size))
        throw DistributedError("WORLD_SIZE " + std::to_string(env.world_size) + " of " + env.describe() +
                               " differs from rank 0's WORLD_SIZE " + theirs);
    }
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(env.describe() + ": the rendezvous at " + where + " did not complete within --dist-timeout " +
                           seconds(timeout) + ": " + first_line_of(e.what()));
  }

  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("eshift/group", state_->store);
  try {
    if (device.is_cuda()) {
#if defined(ESHIFT_NCCL)
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;
      state_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, nccl);
      state_->backend = "nccl";
#else
      throw DistributedError("this LibTorch has no NCCL process group: a distributed --device cuda run needs a CUDA "
                             "LibTorch built with NCCL (pip's torch: make test-torch2)");
#endif
    } else {
      auto gloo = c10d::ProcessGroupGloo::Options::create();
      gloo->timeout = timeout;
      // GLOO_SOCKET_IFNAME=eth0[,eth1]: the interfaces to use (as PyTorch reads it); else the
      // address the host name resolves to, or loopback
      const char* interfaces = std::getenv("GLOO_SOCKET_IFNAME");
      if (interfaces != nullptr && *interfaces != '\0') {
        std::stringstream list(interfaces);
        for (std::string name; std::getline(list, name, ',');)
          if (!name.empty()) gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      } else {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      state_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, gloo);
      state_->backend = "gloo";
    }
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(env.describe() + ": connecting the process group failed (GLOO_SOCKET_IFNAME chooses the network interface): " +
                           first_line_of(e.what()));
  }
}

Communicator::~Communicator() {
  // after a failure the group is abandoned (its destructor could wait for a dead peer)
  if (state_ && state_->group) (void)state_->group.release();
}

std::string Communicator::backend() const { return state_->backend; }

Communicator::Waiter Communicator::all_reduce_async(torch::Tensor tensor, const std::string& what, ReduceOp op) {
  TORCH_CHECK(tensor.is_contiguous(), "all-reduce of a non-contiguous tensor");
  std::vector<torch::Tensor> tensors{tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d_op(op);
  try {
    auto work = state_->group->allreduce(tensors, options);
    return [this, work, what]() {
      try {
        work->wait();
      } catch (const std::exception& e) {
        fail(what, e.what());
      }
    };
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
}

void Communicator::all_reduce(torch::Tensor tensor, const std::string& what, ReduceOp op) {
  all_reduce_async(std::move(tensor), what, op)();
}

void Communicator::broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  torch::NoGradGuard no_grad;
  // one flat buffer per dtype (Gloo wants contiguous tensors; channels-last parameters are not)
  std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> groups;
  for (const auto& t : tensors) groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  for (auto& [key, members] : groups) {
    std::vector<torch::Tensor> flat;
    for (const auto& t : members) flat.push_back(t.reshape(-1));
    std::vector<torch::Tensor> buffer{torch::cat(flat)};
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    try {
      state_->group->broadcast(buffer, options)->wait();
    } catch (const std::exception& e) {
      fail(what, e.what());
    }
    int64_t offset = 0;
    for (auto& t : members) {
      t.copy_(buffer[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void Communicator::broadcast_bytes(std::string& bytes, int root, const std::string& what) {
  // on the collectives' device (NCCL takes only CUDA tensors)
  std::vector<torch::Tensor> length{torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64).to(device_)};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  try {
    state_->group->broadcast(length, options)->wait();
    if (env_.rank != root) bytes.assign(static_cast<size_t>(length[0].item<int64_t>()), '\0');
    if (bytes.empty()) return;
    auto host = torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, torch::kUInt8);
    std::vector<torch::Tensor> data{host.to(device_)};
    state_->group->broadcast(data, options)->wait();
    if (env_.rank != root && device_.is_cuda()) host.copy_(data[0]);
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
}

std::optional<Communicator::Report> Communicator::agree(const std::string& problem, const std::string& what) {
  // the lowest rank with a problem (world_size: none), then its text from it to every rank
  auto lowest = torch::tensor({static_cast<double>(problem.empty() ? env_.world_size : env_.rank)}, torch::kDouble).to(device_);
  all_reduce(lowest, what, ReduceOp::kMin);
  const int rank = static_cast<int>(lowest.item<double>());
  if (rank == env_.world_size) return std::nullopt;
  std::string text = problem;
  broadcast_bytes(text, rank, what);
  // and once more all together, so that no rank ends (taking the store with it, on rank 0) before
  // every rank has the text; a failure here changes nothing: every rank stops anyway
  try {
    auto done = torch::zeros({1}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
    all_reduce(done, what);
  } catch (const DistributedError&) {
  }
  return Report{rank, text};
}

void Communicator::fail(const std::string& what, const std::string& reason) {
  // the group is unusable now; ask through the store which ranks still answer: each survivor of
  // this failure leaves its mark, a rank that died or hangs does not
  (void)state_->group.release();
  std::string missing;
  try {
    auto& store = *state_->store;
    store.set(failed_key(env_.rank), bytes("1"));
    const auto window = std::min(timeout_, std::chrono::milliseconds(5000));
    const auto deadline = std::chrono::steady_clock::now() + window;
    for (;;) {
      missing = ranks_without(store, env_.world_size, env_.rank, failed_key);
      if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const std::exception&) {
    missing = "0";  // the store lives in rank 0's process
  }
  const std::string who = missing.empty() ? "every rank reports the failure"
                                          : "rank " + missing + " stopped responding (exited, killed or hanging)";
  throw DistributedError(env_.describe() + ": " + what + " failed: " + who + " (--dist-timeout " + seconds(timeout_) +
                         "): " + first_line_of(reason));
}

}  // namespace eshift
