// Regularizers: closed-form gradients against autograd of their penalties (float64), the ε = 0
// identity with plain L2, and the WS ε-gradient against the paper's elementwise formula.
#include <gtest/gtest.h>

#include "eshift/regularize/regularizer.h"

using namespace eshift;

namespace {
torch::Tensor autograd_gradient(const Regularizer& r, const torch::Tensor& w) {
  auto x = w.clone().requires_grad_(true);
  r.penalty(x).backward();
  return x.grad();
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item<double>();
}

// Conv weights [out, in/groups, k, k]: 3×3, 1×1, grouped (in/groups = 2), and a linear weight.
const std::vector<std::vector<int64_t>> kShapes = {{8, 3, 3, 3}, {6, 4, 1, 1}, {8, 2, 3, 3}, {5, 7}, {3, 2, 1, 1}};
const std::vector<WeightFamily> kFamilies = {WeightFamily::WS, WeightFamily::CWN, WeightFamily::WN};
}  // namespace

TEST(Regularizer, EpsShiftedGradientMatchesAutogradOfPenalty) {
  torch::manual_seed(1);
  for (auto family : kFamilies)
    for (const auto& shape : kShapes)
      for (double eps : {0.0, 1e-3, 0.2, 3.0}) {  // ε below, near and above the filters' radius
        auto w = torch::randn(shape, torch::kFloat64) * 0.5 + 0.1;
        auto r = Regularizer::eps_shifted(family, 0.37, eps);
        auto expected = autograd_gradient(r, w);
        EXPECT_LT(max_rel_diff(r.gradient(w), expected), 1e-12)
            << family_name(family) << " shape " << w.sizes() << " eps " << eps;
      }
}

TEST(Regularizer, EpsShiftedGradientMatchesAutogradOnRandomShapes) {
  torch::manual_seed(11);
  for (int trial = 0; trial < 30; ++trial) {
    auto dim = [](int64_t lo, int64_t hi) { return torch::randint(lo, hi + 1, {1}).item<int64_t>(); };
    const int64_t k = trial % 3 == 0 ? 1 : dim(1, 5);  // 1×1 kernels every third trial
    std::vector<int64_t> shape{dim(1, 9), dim(1, 6), k, k};
    if (shape[1] * k * k < 2) shape[1] = 2;  // WS needs a fan-in of 2
    auto w = torch::randn(shape, torch::kFloat64) * torch::rand({1}, torch::kFloat64).item<double>() * 2;
    const double eps = torch::rand({1}, torch::kFloat64).item<double>();
    for (auto family : kFamilies) {
      auto r = Regularizer::eps_shifted(family, 1e-2, eps);
      EXPECT_LT(max_rel_diff(r.gradient(w), autograd_gradient(r, w)), 1e-11)
          << family_name(family) << " shape " << w.sizes() << " eps " << eps;
    }
  }
}

TEST(Regularizer, L2AndDecoupledGradientMatchAutograd) {
  torch::manual_seed(2);
  for (const auto& shape : kShapes) {
    auto w = torch::randn(shape, torch::kFloat64);
    for (auto r : {Regularizer::l2(0.3), Regularizer::decoupled_l2(0.3)}) {
      EXPECT_LT(max_rel_diff(r.gradient(w), autograd_gradient(r, w)), 1e-14);
      EXPECT_NEAR(r.penalty(w).item<double>(), 0.5 * 0.3 * w.pow(2).sum().item<double>(), 1e-12);
    }
  }
  auto w = torch::randn({4, 3}, torch::kFloat64);
  EXPECT_EQ(Regularizer::none().penalty(w).item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(Regularizer::none().gradient(w), torch::zeros_like(w)));
  EXPECT_TRUE(Regularizer::l2(0.1).coupled());
  EXPECT_FALSE(Regularizer::decoupled_l2(0.1).coupled());
}

TEST(Regularizer, EpsZeroEqualsPlainL2Exactly) {
  torch::manual_seed(3);
  for (auto family : kFamilies)
    for (const auto& shape : kShapes)
      for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
        auto w = torch::randn(shape, dtype);
        auto shifted = Regularizer::eps_shifted(family, 1e-4, 0.0);
        auto plain = Regularizer::l2(1e-4);
        EXPECT_TRUE(torch::equal(shifted.gradient(w), plain.gradient(w))) << family_name(family);
        EXPECT_TRUE(torch::equal(shifted.penalty(w), plain.penalty(w))) << family_name(family);
      }
}

TEST(Regularizer, EpsShiftedPenaltyIsPlainL2AtEpsZeroMathematically) {
  // ‖w‖² = n·μ² + (n−1)·σ²: the ε-shifted penalty with a tiny ε tends to ½λ‖w‖².
  torch::manual_seed(4);
  auto w = torch::randn({8, 3, 3, 3}, torch::kFloat64);
  const double plain = Regularizer::l2(2.0).penalty(w).item<double>();
  for (auto family : kFamilies)
    EXPECT_NEAR(Regularizer::eps_shifted(family, 2.0, 1e-12).penalty(w).item<double>(), plain, 1e-9 * plain);
}

TEST(Regularizer, WSGradientEqualsPaperFormulaElementwise) {
  // λ((1 − ε/σ)(w − μ) + μ), σ unbiased, computed here with torch::std independently of the library.
  torch::manual_seed(5);
  const double lambda = 1e-4, eps = 1e-3;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{16, 8, 3, 3}, {4, 2, 1, 1}}) {
    auto w = torch::randn(shape, torch::kFloat64) * 0.05 + 0.01;
    auto flat = w.reshape({w.size(0), -1});
    auto mu = flat.mean(1, true);
    auto sigma = flat.std(1, /*unbiased=*/true, /*keepdim=*/true);
    auto expected = (lambda * ((1 - eps / sigma) * (flat - mu) + mu)).view(w.sizes());
    auto got = Regularizer::eps_shifted(WeightFamily::WS, lambda, eps).gradient(w);
    EXPECT_LT(max_rel_diff(got, expected), 1e-12);
    // and the penalty ½λ Σ [n μ² + (n−1)(σ−ε)²]
    const double n = flat.size(1);
    const double penalty = (0.5 * lambda * (n * mu.pow(2) + (n - 1) * (sigma - eps).pow(2))).sum().item<double>();
    EXPECT_NEAR(Regularizer::eps_shifted(WeightFamily::WS, lambda, eps).penalty(w).item<double>(), penalty,
                1e-12 * penalty);
  }
}

TEST(Regularizer, EpsShiftPushesSmallFiltersBackTowardEps) {
  // With σ < ε the factor (1 − ε/σ) is negative: a descent step on R raises σ toward ε.
  torch::manual_seed(6);
  auto w = torch::randn({4, 9}, torch::kFloat64) * 1e-3;  // σ ≈ 1e-3
  const double eps = 0.05;
  auto r = Regularizer::eps_shifted(WeightFamily::WS, 1.0, eps);
  auto before = w.std(1);
  auto after = (w - 0.1 * r.gradient(w)).std(1);
  EXPECT_TRUE((after > before).all().item<bool>());
  EXPECT_TRUE((after < eps).all().item<bool>());  // and does not overshoot with this step
  // while plain L2 shrinks it further
  auto shrunk = (w - 0.1 * Regularizer::l2(1.0).gradient(w)).std(1);
  EXPECT_TRUE((shrunk < before).all().item<bool>());
}

TEST(Regularizer, AFilterWithoutRadiusGetsTheFiniteLimitOfEveryForm) {
  // rows: zero, constant 0.25 (its mean exact: r = 0), a radius below float32's smallest normal
  // number, an ordinary one, and constant 0.3 (r is rounding noise, not 0: the ε-term pushes along
  // that noise, by about ε)
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (auto family : kFamilies)
      for (bool decoupled : {false, true}) {
        auto w = torch::zeros({5, 9}, dtype);
        w[1].fill_(0.25);
        w[2][0] = 1e-41;  // float32: subnormal; its ε/r would overflow to inf
        w[3] = torch::linspace(-1, 1, 9, dtype);
        w[4].fill_(0.3);
        const double lambda = 0.5, eps = 0.1;
        auto r = Regularizer::eps_shifted(family, lambda, eps).applied_decoupled(decoupled);
        auto g = r.gradient(w);
        const std::string where = std::string(family_name(family)) + (decoupled ? " decoupled " : " coupled ") +
                                  c10::toString(dtype);
        ASSERT_TRUE(torch::isfinite(g).all().item<bool>()) << where << "\n" << g;
        EXPECT_LT(g[4].abs().max().item<double>(), lambda * (0.3 + 3 * eps)) << where << g[4];
        ASSERT_TRUE(torch::isfinite(r.penalty(w)).item<bool>()) << where;
        // the zero filter stays where it is; the constant one decays as plain L2 would (λw)
        EXPECT_TRUE(torch::equal(g[0], torch::zeros({9}, dtype))) << where;
        if (family != WeightFamily::WN) EXPECT_TRUE(torch::allclose(g[1], lambda * w[1], 1e-6)) << where << g[1];
        // an ordinary filter's gradient is the formula's, as before
        EXPECT_LT(max_rel_diff(g[3].to(torch::kDouble), autograd_gradient(r, w.to(torch::kDouble))[3]), 1e-5) << where;
        // the decoupled step of such a weight is finite too
        auto stepped = w.clone();
        r.apply_decoupled_(stepped, 0.1);
        EXPECT_TRUE(torch::isfinite(stepped).all().item<bool>()) << where;
        // the penalty at r = 0 is the formula's value there: ½λ(n−1)ε² (WS), ½λε² (CWN and WN), for the zero row
        auto zero_row = torch::zeros({1, 9}, torch::kFloat64);
        const double expected = family == WeightFamily::WS ? 0.5 * lambda * 8 * eps * eps : 0.5 * lambda * eps * eps;
        EXPECT_NEAR(r.penalty(zero_row).item<double>(), expected, 1e-15) << where;
      }
}

TEST(Regularizer, RejectsImpossibleInput) {
  EXPECT_THROW(Regularizer::l2(-1), c10::Error);
  EXPECT_THROW(Regularizer::eps_shifted(WeightFamily::WS, 1e-4, -1e-3), c10::Error);
  auto r = Regularizer::eps_shifted(WeightFamily::WS, 1e-4, 1e-3);
  EXPECT_THROW(r.gradient(torch::randn({5}, torch::kFloat64)), c10::Error);      // not per-filter
  EXPECT_THROW(r.gradient(torch::randn({5, 1, 1, 1}, torch::kFloat64)), c10::Error);  // fan-in 1: no σ
  EXPECT_EQ(r.describe(), "eps-l2[ws](λ=0.0001, ε=0.001)");
}
