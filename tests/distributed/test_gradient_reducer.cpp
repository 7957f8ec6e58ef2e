// Gradient averaging across ranks (threads on loopback): after finish(), every rank holds the mean of
// the ranks' gradients, bit for bit the same on every rank, with several buckets started during
// backward or all after it.
#include <gtest/gtest.h>

#include "eshift/distributed/gradient_reducer.h"
#include "ranks.h"

using namespace eshift;
using eshift::test::run_ranks;

namespace {
// Drawn once, in the main thread (the ranks are threads, and LibTorch's generator is process-wide).
const std::vector<torch::Tensor>& initial() {
  static const auto values = [] {
    torch::manual_seed(1);
    return std::vector<torch::Tensor>{torch::randn({6, 5}, torch::kDouble), torch::randn({6}, torch::kDouble),
                                      torch::randn({3, 6}, torch::kDouble), torch::randn({3}, torch::kDouble)};
  }();
  return values;
}
const std::vector<torch::Tensor>& inputs() {  // each rank its own data
  static const auto values = [] {
    torch::manual_seed(100);
    std::vector<torch::Tensor> out;
    for (int r = 0; r < 3; ++r) out.push_back(torch::randn({4, 5}, torch::kDouble));
    return out;
  }();
  return values;
}

// A small two-layer network's parameters (the same on every rank), float64.
std::vector<torch::Tensor> parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& v : initial()) out.push_back(v.clone().requires_grad_());
  return out;
}

torch::Tensor loss_of(const std::vector<torch::Tensor>& p, int rank) {
  auto h = torch::tanh(torch::addmm(p[1], inputs()[rank], p[0].t()));
  return torch::addmm(p[3], h, p[2].t()).pow(2).mean();
}
}  // namespace

TEST(GradientReducer, AveragesTheRanksGradientsInEveryBucketLayout) {
  const int world = 3;
  // the expected mean, by autograd in one thread
  std::vector<torch::Tensor> expected;
  for (int r = 0; r < world; ++r) {
    auto p = parameters();
    loss_of(p, r).backward();
    for (size_t i = 0; i < p.size(); ++i) {
      if (r == 0) expected.push_back(p[i].grad() / world);
      else expected[i] += p[i].grad() / world;
    }
  }
  for (const bool overlap : {true, false})
    for (const int64_t bucket_bytes : {int64_t(8), int64_t(200), int64_t(1) << 20}) {
      run_ranks(world, [&](int rank, std::shared_ptr<Communicator> c) {
        auto p = parameters();
        GradientReducer reducer(c, p, bucket_bytes, overlap);
        if (bucket_bytes == 8) {
          EXPECT_EQ(reducer.num_buckets(), 4);  // one parameter each
        }
        if (bucket_bytes == int64_t(1) << 20) {
          EXPECT_EQ(reducer.num_buckets(), 1);
        }
        for (int step = 0; step < 2; ++step) {  // the buffers are reused from step to step
          for (auto& t : p) t.mutable_grad() = torch::Tensor();
          loss_of(p, rank).backward();
          reducer.finish();
          for (size_t i = 0; i < p.size(); ++i)
            EXPECT_LT((p[i].grad() - expected[i]).abs().max().item<double>(), 1e-15)
                << "rank " << rank << " parameter " << i << " overlap " << overlap << " bucket " << bucket_bytes;
        }
      });
    }
}

TEST(GradientReducer, AParameterWithoutAGradientCountsAsZero) {
  run_ranks(2, [](int rank, std::shared_ptr<Communicator> c) {
    auto used = torch::ones({2}, torch::kDouble).requires_grad_();
    auto unused = torch::ones({2}, torch::kDouble).requires_grad_();
    GradientReducer reducer(c, {used, unused}, 8);
    (used * double(rank + 1)).sum().backward();
    reducer.finish();
    EXPECT_TRUE(torch::equal(used.grad(), torch::full({2}, 1.5, torch::kDouble)));
    EXPECT_TRUE(torch::equal(unused.grad(), torch::zeros({2}, torch::kDouble)));
  });
}
