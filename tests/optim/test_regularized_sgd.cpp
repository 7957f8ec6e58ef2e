// The optimizer against hand-computed updates (float64) and against LibTorch's own SGD, its
// serialization, and the learning-rate schedules.
#include <gtest/gtest.h>

#include "eshift/optim/regularized_sgd.h"

using namespace eshift;

namespace {
double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// Sets p's gradient to g.
void set_grad(torch::Tensor& p, const torch::Tensor& g) { p.mutable_grad() = g.clone(); }

// CWN and WN ε-terms written out independently: λ((1 − ε/‖w−μ‖)(w − μ) + μ) and λ(1 − ε/‖w‖)w.
torch::Tensor cwn_eps_term(const torch::Tensor& w, double lambda, double eps) {
  auto f = w.reshape({w.size(0), -1});
  auto mu = f.mean(1, true);
  auto r = (f - mu).pow(2).sum(1, true).sqrt();
  return (lambda * ((1 - eps / r) * (f - mu) + mu)).view(w.sizes());
}
torch::Tensor wn_eps_term(const torch::Tensor& w, double lambda, double eps) {
  auto f = w.reshape({w.size(0), -1});
  return (lambda * (1 - eps / f.pow(2).sum(1, true).sqrt()) * f).view(w.sizes());
}

// WS ε-term written out independently: λ((1 − ε/σ)(w − μ) + μ) per filter, σ unbiased.
torch::Tensor ws_eps_term(const torch::Tensor& w, double lambda, double eps) {
  auto f = w.reshape({w.size(0), -1});
  auto mu = f.mean(1, true);
  auto sigma = f.std(1, true, true);
  return (lambda * ((1 - eps / sigma) * (f - mu) + mu)).view(w.sizes());
}

RegularizedSGD make(torch::Tensor p, const Regularizer& r, double lr, double momentum, double dampening, bool nesterov) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto o = std::make_unique<RegularizedSGDOptions>(lr);
  o->momentum(momentum).dampening(dampening).nesterov(nesterov).regularizer(r);
  groups.emplace_back(std::vector<torch::Tensor>{p}, std::move(o));
  return RegularizedSGD(std::move(groups), RegularizedSGDOptions(lr));
}
}  // namespace

TEST(RegularizedSGD, TwoMomentumStepsMatchHandComputedUpdates) {
  torch::manual_seed(1);
  const double lr = 0.1, m = 0.9, damp = 0.25, lambda = 0.01, eps = 0.05;
  auto w0 = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.1;
  auto g1 = torch::randn_like(w0), g2 = torch::randn_like(w0);

  struct Case { Regularizer reg; std::function<torch::Tensor(const torch::Tensor&)> coupled_term; double decoupled; };
  std::vector<Case> cases = {
      {Regularizer::none(), [](const torch::Tensor& w) { return torch::zeros_like(w); }, 0},
      {Regularizer::l2(lambda), [&](const torch::Tensor& w) { return lambda * w; }, 0},
      {Regularizer::decoupled_l2(lambda), [](const torch::Tensor& w) { return torch::zeros_like(w); }, lambda},
      {Regularizer::eps_shifted(WeightFamily::WS, lambda, eps), [&](const torch::Tensor& w) { return ws_eps_term(w, lambda, eps); }, 0},
      {Regularizer::eps_shifted(WeightFamily::CWN, lambda, eps), [&](const torch::Tensor& w) { return cwn_eps_term(w, lambda, eps); }, 0},
      {Regularizer::eps_shifted(WeightFamily::WN, lambda, eps), [&](const torch::Tensor& w) { return wn_eps_term(w, lambda, eps); }, 0},
  };
  for (const auto& c : cases) {
    auto p = w0.clone().requires_grad_(true);
    auto opt = make(p, c.reg, lr, m, damp, false);
    set_grad(p, g1);
    opt.step();
    set_grad(p, g2);
    opt.step();
    // by hand: step 1 sets the buffer to d1; step 2 buf = m·buf + (1 − damp)·d2
    auto w = w0.clone();
    auto d1 = g1 + c.coupled_term(w);
    auto buf = d1.clone();
    w = w * (1 - lr * c.decoupled) - lr * buf;
    auto d2 = g2 + c.coupled_term(w);
    buf = m * buf + (1 - damp) * d2;
    w = w * (1 - lr * c.decoupled) - lr * buf;
    EXPECT_LT(max_abs(p.detach() - w), 1e-14) << c.reg.describe();
  }
}

TEST(RegularizedSGD, NesterovMatchesHandComputedUpdate) {
  torch::manual_seed(2);
  const double lr = 0.05, m = 0.9, lambda = 0.1, eps = 0.3;
  auto w0 = torch::randn({3, 5}, torch::kFloat64);
  auto g1 = torch::randn_like(w0), g2 = torch::randn_like(w0);
  auto p = w0.clone().requires_grad_(true);
  auto opt = make(p, Regularizer::eps_shifted(WeightFamily::WS, lambda, eps), lr, m, 0, true);
  set_grad(p, g1);
  opt.step();
  set_grad(p, g2);
  opt.step();
  auto w = w0.clone();
  auto d = g1 + ws_eps_term(w, lambda, eps);
  auto buf = d.clone();
  w = w - lr * (d + m * buf);
  d = g2 + ws_eps_term(w, lambda, eps);
  buf = m * buf + d;
  w = w - lr * (d + m * buf);
  EXPECT_LT(max_abs(p.detach() - w), 1e-14);
}

TEST(RegularizedSGD, L2EqualsLibTorchSGDWithWeightDecay) {
  torch::manual_seed(3);
  for (bool nesterov : {false, true}) {
    auto w0 = torch::randn({6, 4}, torch::kFloat64);
    auto a = w0.clone().requires_grad_(true), b = w0.clone().requires_grad_(true);
    auto ours = make(a, Regularizer::l2(0.02), 0.1, 0.9, 0, nesterov);
    torch::optim::SGD theirs({b}, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.02).nesterov(nesterov));
    for (int i = 0; i < 5; ++i) {
      auto g = torch::randn_like(w0);
      set_grad(a, g);
      set_grad(b, g);
      ours.step();
      theirs.step();
    }
    EXPECT_LT(max_abs(a.detach() - b.detach()), 1e-15) << "nesterov " << nesterov;
  }
}

TEST(RegularizedSGD, ParamGroupsKeepTheirOwnRegularizer) {
  auto conv = torch::ones({2, 3}, torch::kFloat64).requires_grad_(true);
  auto bias = torch::ones({2}, torch::kFloat64).requires_grad_(true);
  std::vector<RegularizedGroup> groups = {{Regularizer::l2(0.5), {conv}}, {Regularizer::none(), {bias}}};
  RegularizedSGD opt(groups, RegularizedSGDOptions(0.1));
  set_grad(conv, torch::zeros_like(conv));
  set_grad(bias, torch::zeros_like(bias));
  opt.step();
  EXPECT_DOUBLE_EQ(conv[0][0].item<double>(), 1 - 0.1 * 0.5);
  EXPECT_DOUBLE_EQ(bias[0].item<double>(), 1.0);
}

TEST(RegularizedSGD, RejectsImpossibleOptions) {
  auto p = torch::ones({2, 2}).requires_grad_(true);
  EXPECT_THROW(make(p, Regularizer::none(), -0.1, 0, 0, false), c10::Error);
  EXPECT_THROW(make(p, Regularizer::none(), 0.1, -0.5, 0, false), c10::Error);
  EXPECT_THROW(make(p, Regularizer::none(), 0.1, 0, 0, true), c10::Error);      // nesterov without momentum
  EXPECT_THROW(make(p, Regularizer::none(), 0.1, 0.9, 0.1, true), c10::Error);  // nesterov with dampening
}

TEST(RegularizedSGD, SaveAndLoadKeepMomentumBuffers) {
  torch::manual_seed(4);
  auto w0 = torch::randn({3, 4}, torch::kFloat64);
  auto g1 = torch::randn_like(w0), g2 = torch::randn_like(w0);
  auto reg = Regularizer::eps_shifted(WeightFamily::WS, 0.01, 0.1);
  auto a = w0.clone().requires_grad_(true);
  auto opt_a = make(a, reg, 0.1, 0.9, 0, false);
  set_grad(a, g1);
  opt_a.step();
  std::stringstream stream;
  {
    torch::serialize::OutputArchive out;
    opt_a.save(out);
    out.save_to(stream);
  }
  auto b = a.detach().clone().requires_grad_(true);
  auto opt_b = make(b, reg, 0.1, 0.9, 0, false);
  {
    torch::serialize::InputArchive in;
    in.load_from(stream);
    opt_b.load(in);
  }
  set_grad(a, g2);
  set_grad(b, g2);
  opt_a.step();
  opt_b.step();
  EXPECT_TRUE(torch::equal(a.detach(), b.detach()));
}
