// Synchronized BatchNorm (nn/sync_batch_norm.h), float64: two ranks each holding half of a batch
// compute what one BatchNorm computes on the whole batch — outputs, running statistics, input
// gradients, and (summed over the ranks) γ and β gradients; and with one process it is BatchNorm.
#include <gtest/gtest.h>

#include "eshift/nn/sync_batch_norm.h"
#include "ranks.h"

using namespace eshift;
using eshift::test::run_ranks;

namespace {
torch::nn::BatchNorm2d batch_norm() {
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(3).momentum(0.3));
  bn->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  bn->weight.copy_(torch::tensor({1.5, -0.5, 2.0}, torch::kDouble));
  bn->bias.copy_(torch::tensor({0.1, 0.2, -0.3}, torch::kDouble));
  bn->train();
  return bn;
}

struct Pass {
  torch::Tensor y, dx, dweight, dbias, running_mean, running_var;
};

// y = bn(x), loss = Σ y · r
Pass reference(const torch::Tensor& x, const torch::Tensor& r) {
  auto bn = batch_norm();
  auto input = x.clone().requires_grad_();
  auto y = bn->forward(input);
  (y * r).sum().backward();
  return {y.detach(), input.grad(), bn->weight.grad(), bn->bias.grad(), bn->running_mean.clone(), bn->running_var.clone()};
}
}  // namespace

TEST(SyncBatchNorm, OneProcessIsBatchNorm) {
  torch::manual_seed(2);
  auto x = torch::randn({4, 3, 5, 5}, torch::kDouble) * 3 + 1;
  auto r = torch::randn({4, 3, 5, 5}, torch::kDouble);
  const auto expected = reference(x, r);
  auto bn = batch_norm();
  auto input = x.clone().requires_grad_();
  const SumAcrossProcesses alone = [](torch::Tensor&) {};
  auto y = sync_batch_norm(*bn, input, alone);
  (y * r).sum().backward();
  EXPECT_TRUE(torch::allclose(y, expected.y, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(input.grad(), expected.dx, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(bn->weight.grad(), expected.dweight, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(bn->bias.grad(), expected.dbias, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(bn->running_mean, expected.running_mean, 1e-14, 1e-14));
  EXPECT_TRUE(torch::allclose(bn->running_var, expected.running_var, 1e-14, 1e-14));
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
}

TEST(SyncBatchNorm, TwoRanksWithHalfTheBatchEachComputeTheWholeBatchsBatchNorm) {
  torch::manual_seed(3);
  auto x = torch::randn({6, 3, 4, 4}, torch::kDouble) * 2 - 1;
  auto r = torch::randn({6, 3, 4, 4}, torch::kDouble);
  const auto expected = reference(x, r);
  std::vector<torch::Tensor> dweight(2), dbias(2);
  run_ranks(2, [&](int rank, std::shared_ptr<Communicator> c) {
    auto bn = batch_norm();
    auto input = x.narrow(0, 3 * rank, 3).clone().requires_grad_();
    const SumAcrossProcesses sum = [c](torch::Tensor& t) { c->all_reduce(t, "sync BN"); };
    auto y = sync_batch_norm(*bn, input, sum);
    (y * r.narrow(0, 3 * rank, 3)).sum().backward();
    EXPECT_TRUE(torch::allclose(y, expected.y.narrow(0, 3 * rank, 3), 1e-12, 1e-12)) << "rank " << rank;
    EXPECT_TRUE(torch::allclose(input.grad(), expected.dx.narrow(0, 3 * rank, 3), 1e-12, 1e-12)) << "rank " << rank;
    EXPECT_TRUE(torch::allclose(bn->running_mean, expected.running_mean, 1e-14, 1e-14));
    EXPECT_TRUE(torch::allclose(bn->running_var, expected.running_var, 1e-14, 1e-14));  // unbiased over all 6·16
    dweight[rank] = bn->weight.grad();
    dbias[rank] = bn->bias.grad();
  });
  EXPECT_TRUE(torch::allclose(dweight[0] + dweight[1], expected.dweight, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(dbias[0] + dbias[1], expected.dbias, 1e-12, 1e-12));
}

TEST(SyncBatchNorm, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(4);
  const SumAcrossProcesses alone = [](torch::Tensor&) {};
  auto x = torch::randn({2, 3, 2, 2}, torch::kDouble);
  auto r = torch::randn({2, 3, 2, 2}, torch::kDouble);
  auto loss = [&](const torch::Tensor& input, torch::nn::BatchNorm2d& bn) { return (sync_batch_norm(*bn, input, alone) * r).sum(); };
  auto bn = batch_norm();
  auto input = x.clone().requires_grad_();
  loss(input, bn).backward();
  const double h = 1e-6;
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto plus = x.clone(), minus = x.clone();
    plus.view(-1)[i] += h;
    minus.view(-1)[i] -= h;
    auto b1 = batch_norm(), b2 = batch_norm();
    const double numeric = (loss(plus, b1).item<double>() - loss(minus, b2).item<double>()) / (2 * h);
    EXPECT_NEAR(input.grad().view(-1)[i].item<double>(), numeric, 1e-7) << "x[" << i << "]";
  }
  for (int64_t c = 0; c < 3; ++c) {
    auto b1 = batch_norm(), b2 = batch_norm();
    {
      torch::NoGradGuard no_grad;
      b1->weight[c] += h;
      b2->weight[c] -= h;
    }
    const double numeric = (loss(x, b1).item<double>() - loss(x, b2).item<double>()) / (2 * h);
    EXPECT_NEAR(bn->weight.grad()[c].item<double>(), numeric, 1e-7) << "γ[" << c << "]";
  }
}
