#pragma once
// Runs the ranks of a small data-parallel world as threads of the test process, each with its own
// Communicator on loopback (a real TCPStore and ProcessGroupGloo), and rethrows the first error.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "eshift/distributed/communicator.h"

namespace eshift::test {

// A TCP port that is free right now.
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline DistEnvironment rank_env(int rank, int world, int port) {
  DistEnvironment env;
  env.rank = rank;
  env.world_size = world;
  env.local_rank = rank;
  env.local_world_size = world;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

// body(rank, communicator) on `world` threads.
inline void run_ranks(int world, const std::function<void(int, std::shared_ptr<Communicator>)>& body,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const int port = free_port();
  std::exception_ptr error;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto c = std::make_shared<Communicator>(rank_env(r, world, port), timeout);
        body(r, c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace eshift::test
