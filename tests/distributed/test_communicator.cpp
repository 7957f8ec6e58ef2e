// The Communicator on loopback, ranks as threads: collectives, broadcast of any layout, and errors
// that name the rank at fault.
#include <gtest/gtest.h>

#include <atomic>

#include "eshift/distributed/communicator.h"
#include "ranks.h"

using namespace eshift;
using eshift::test::run_ranks;

TEST(Communicator, AllReducesAndBroadcasts) {
  // drawn here: the ranks are threads, and LibTorch's generator is process-wide
  std::vector<torch::Tensor> drawn;
  for (int r = 0; r < 3; ++r) drawn.push_back(torch::randn({2, 3, 4, 5}).contiguous(torch::MemoryFormat::ChannelsLast));
  run_ranks(3, [&](int rank, std::shared_ptr<Communicator> c) {
    EXPECT_EQ(c->backend(), "gloo");
    auto t = torch::full({4}, double(rank + 1), torch::kDouble);
    c->all_reduce(t, "sum");
    EXPECT_TRUE(torch::equal(t, torch::full({4}, 6.0, torch::kDouble)));
    auto lo = torch::tensor({double(rank)}), hi = lo.clone();
    c->all_reduce(lo, "min", ReduceOp::kMin);
    c->all_reduce(hi, "max", ReduceOp::kMax);
    EXPECT_EQ(lo.item<double>(), 0);
    EXPECT_EQ(hi.item<double>(), 2);
    // rank 0's values reach every rank, whatever the layout and dtype
    auto nhwc = drawn[rank].clone(torch::MemoryFormat::ChannelsLast);
    auto counter = torch::tensor({int64_t(rank * 10)});
    c->broadcast({nhwc, counter}, "broadcast");
    EXPECT_TRUE(torch::equal(nhwc, drawn[0]));
    EXPECT_TRUE(nhwc.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_EQ(counter.item<int64_t>(), 0);
  });
}

TEST(Communicator, ACollectiveAnotherRankNeverJoinsFailsNamingIt) {
  std::string message;
  std::atomic<bool> rank0_done{false};
  const auto t0 = std::chrono::steady_clock::now();
  // the timeout bounds the rendezvous too: long enough for it on a loaded machine (ctest -j)
  run_ranks(
      2,
      [&](int rank, std::shared_ptr<Communicator> c) {
        if (rank == 1) {  // "hangs" until rank 0 gave up on it (at most 20 s)
          for (int i = 0; i < 400 && !rank0_done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
          return;
        }
        try {
          c->all_reduce(torch::ones({3}), "the test's all-reduce");
        } catch (const DistributedError& e) {
          message = e.what();
        }
        rank0_done = true;
      },
      std::chrono::seconds(3));
  EXPECT_NE(message.find("rank 0 of 2: the test's all-reduce failed: rank 1 stopped responding"), std::string::npos)
      << message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
}

TEST(Communicator, ARankThatNeverJoinsIsNamedAtTheRendezvous) {
  const int port = eshift::test::free_port();
  try {
    Communicator alone(eshift::test::rank_env(0, 3, port), std::chrono::seconds(3));
    ADD_FAILURE() << "connected without ranks 1 and 2";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1, 2 of WORLD_SIZE 3 did not join the rendezvous"), std::string::npos) << e.what();
  }
}

TEST(Communicator, MismatchedWorldSizesAreNamed) {
  const int port = eshift::test::free_port();
  std::string message;
  std::thread zero([&] {
    try {
      Communicator c(eshift::test::rank_env(0, 2, port), std::chrono::seconds(3));
    } catch (const std::exception&) {
    }
  });
  try {
    Communicator c(eshift::test::rank_env(1, 3, port), std::chrono::seconds(3));
  } catch (const DistributedError& e) {
    message = e.what();
  }
  zero.join();
  EXPECT_NE(message.find("WORLD_SIZE 3 of rank 1 of 3 differs from rank 0's WORLD_SIZE 2"), std::string::npos) << message;
}

// NCCL, where this LibTorch has it and a GPU is present (scripts/gpu-check.sh): a world of one
// process, the smoke test of the GPU transport.
TEST(Communicator, NcclOnOneGpu) {
#if defined(ESHIFT_NCCL)
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  Communicator c(eshift::test::rank_env(0, 1, eshift::test::free_port()), std::chrono::seconds(60), torch::kCUDA);
  EXPECT_EQ(c.backend(), "nccl");
  auto t = torch::arange(5, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA));
  c.all_reduce(t, "NCCL all-reduce");
  EXPECT_TRUE(torch::equal(t.cpu(), torch::arange(5, torch::kFloat)));
  auto b = torch::ones({2, 3}, torch::TensorOptions().device(torch::kCUDA));
  c.broadcast({b}, "NCCL broadcast");
  EXPECT_TRUE(torch::equal(b.cpu(), torch::ones({2, 3})));
#else
  GTEST_SKIP() << "this LibTorch has no NCCL process group";
#endif
}
