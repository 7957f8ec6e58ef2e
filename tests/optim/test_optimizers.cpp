// The optimizers beyond SGD (RegularizedAdam: Adam, AdamW, LAMB, AdamP; RegularizedSGD's LARS and
// SGDP; the projection; make_optimizer) against LibTorch's own Adam/AdamW and against steps
// computed by hand in float64, every regularizer's ∂R/∂w taken from autograd of its penalty.
#include <gtest/gtest.h>

#include <sstream>

#include "eshift/optim/make_optimizer.h"
#include "eshift/optim/option_archive.h"
#include "eshift/optim/projection.h"
#include "eshift/optim/regularized_adam.h"
#include "eshift/optim/regularized_sgd.h"

namespace optimizers_test {
using namespace eshift;  // inside: the tests share a unity translation unit with other files
double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }
void set_grad(torch::Tensor& p, const torch::Tensor& g) { p.mutable_grad() = g.clone(); }

// ∂R/∂w from autograd of the penalty: independent of the closed form the optimizers use.
torch::Tensor dR(const Regularizer& r, const torch::Tensor& w) {
  if (!r.active()) return torch::zeros_like(w);
  auto x = w.detach().clone().requires_grad_(true);
  r.penalty(x).backward();
  return x.grad();
}

RegularizedAdam adam(torch::Tensor p, RegularizedAdamOptions o) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{p}, std::make_unique<RegularizedAdamOptions>(o));
  return RegularizedAdam(std::move(groups), o);
}
RegularizedSGD sgd(torch::Tensor p, RegularizedSGDOptions o) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{p}, std::make_unique<RegularizedSGDOptions>(o));
  return RegularizedSGD(std::move(groups), o);
}

// clovaai's projection written with scalar loops over rows (row = an output filter, or the whole
// tensor): returns the projected update and whether it projected.
std::pair<torch::Tensor, bool> reference_projection(const torch::Tensor& p, const torch::Tensor& g, torch::Tensor u,
                                                    double delta, double eps, bool force_channel = false) {
  for (bool channel : {true, false}) {
    const int64_t nrows = channel ? p.size(0) : 1, len = p.numel() / nrows;
    auto P = p.contiguous().view({nrows, len}), G = g.contiguous().view({nrows, len});
    double max_cos = 0;
    for (int64_t r = 0; r < nrows; ++r) {
      double pg = 0, pp = 0, gg = 0;
      for (int64_t i = 0; i < len; ++i) {
        const double a = P[r][i].item<double>(), b = G[r][i].item<double>();
        pg += a * b, pp += a * a, gg += b * b;
      }
      max_cos = std::max(max_cos, std::abs(pg) / std::max(std::sqrt(pp) * std::sqrt(gg), eps));
    }
    if (!force_channel && !(max_cos < delta / std::sqrt(static_cast<double>(len)))) continue;
    auto U = u.contiguous().view({nrows, len}).clone();
    for (int64_t r = 0; r < nrows; ++r) {
      double pp = 0, pu = 0;
      for (int64_t i = 0; i < len; ++i) pp += P[r][i].item<double>() * P[r][i].item<double>();
      const double norm = std::sqrt(pp) + eps;
      for (int64_t i = 0; i < len; ++i) pu += P[r][i].item<double>() / norm * U[r][i].item<double>();
      for (int64_t i = 0; i < len; ++i) U[r][i] = U[r][i].item<double>() - P[r][i].item<double>() / norm * pu;
    }
    return {U.view(p.sizes()), true};
  }
  return {u, false};
}

// A gradient orthogonal to every filter of w (as a scale-invariant weight's is): g − ŵ⟨ŵ, g⟩ per row.
torch::Tensor tangential(const torch::Tensor& w, const torch::Tensor& g) {
  auto W = w.reshape({w.size(0), -1}), G = g.reshape({w.size(0), -1});
  auto n = W / W.norm(2, 1, true);
  return (G - n * (n * G).sum(1, true)).view(w.sizes());
}

const std::vector<Regularizer>& regularizers() {
  static const std::vector<Regularizer> r = {
      Regularizer::l2(0.03), Regularizer::eps_shifted(WeightFamily::WS, 0.05, 0.3),
      Regularizer::eps_shifted(WeightFamily::CWN, 0.05, 0.5), Regularizer::eps_shifted(WeightFamily::WN, 0.05, 0.5)};
  return r;
}

TEST(RegularizerApplication, DecoupledStepIsMinusStepTimesAutogradGradient) {
  torch::manual_seed(1);
  for (const auto& r : regularizers()) {
    auto w = torch::randn({5, 3, 3, 3}, torch::kFloat64) * 0.2;
    auto expected = w - 0.07 * dR(r, w);
    auto d = r.applied_decoupled();
    EXPECT_TRUE(d.decoupled && !d.coupled() && r.coupled());
    auto out = w.clone();
    d.apply_decoupled_(out, 0.07);
    EXPECT_LT(max_abs(out - expected), 1e-15) << r.describe();
  }
  auto w = torch::randn({4, 6}, torch::kFloat64);
  auto out = w.clone();
  Regularizer::decoupled_l2(0.5).apply_decoupled_(out, 0.1);
  EXPECT_TRUE(out.equal(w * (1 - 0.1 * 0.5)));  // torch's AdamW rounding: one multiply
  EXPECT_EQ(Regularizer::eps_shifted(WeightFamily::WN, 0.1, 0.2).applied_decoupled().describe(),
            "decoupled eps-l2[wn](λ=0.1, ε=0.2)");
}

TEST(RegularizerApplication, ArchiveReadsOldDecoupledKindAndRoundTrips) {
  torch::serialize::OutputArchive old;  // written before decoupling was a flag: kind 2, no reg_decoupled
  old.write("reg_kind", torch::IValue(int64_t{2}));
  old.write("reg_lambda", torch::IValue(0.25));
  old.write("reg_eps", torch::IValue(0.0));
  old.write("reg_family", torch::IValue(int64_t{0}));
  std::stringstream s;
  old.save_to(s);
  torch::serialize::InputArchive in;
  in.load_from(s);
  auto r = read_regularizer(in);
  EXPECT_EQ(r.kind, RegKind::L2);
  EXPECT_TRUE(r.decoupled);
  EXPECT_EQ(r.lambda, 0.25);

  auto eps = Regularizer::eps_shifted(WeightFamily::CWN, 0.1, 0.01).applied_decoupled();
  torch::serialize::OutputArchive out;
  write_regularizer(out, eps);
  std::stringstream s2;
  out.save_to(s2);
  torch::serialize::InputArchive in2;
  in2.load_from(s2);
  auto back = read_regularizer(in2);
  EXPECT_EQ(back.describe(), eps.describe());
  EXPECT_TRUE(back.decoupled);
}

TEST(RegularizedAdam, L2AndDecoupledEqualLibTorchAdamAndAdamW) {
  torch::manual_seed(2);
  for (bool decoupled : {false, true}) {
    auto w0 = torch::randn({6, 4}, torch::kFloat64);
    auto a = w0.clone().requires_grad_(true), b = w0.clone().requires_grad_(true);
    auto ours = adam(a, RegularizedAdamOptions(0.01).regularizer(Regularizer::l2(0.05).applied_decoupled(decoupled)));
    std::unique_ptr<torch::optim::Optimizer> theirs;
    if (decoupled) theirs = std::make_unique<torch::optim::AdamW>(std::vector<torch::Tensor>{b}, torch::optim::AdamWOptions(0.01).weight_decay(0.05));
    else theirs = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{b}, torch::optim::AdamOptions(0.01).weight_decay(0.05));
    for (int i = 0; i < 6; ++i) {
      auto g = torch::randn_like(w0);
      set_grad(a, g);
      set_grad(b, g);
      ours.step();
      theirs->step();
    }
    // within float64 rounding of the largest weight: the fused step (optim/fused_adam_step.h) rounds
    // in another order than torch's ops (measured: 1.1e-15 at weights up to about 2.5)
    EXPECT_LT(max_abs(a.detach() - b.detach()), 1e-14 * max_abs(b.detach())) << (decoupled ? "AdamW" : "Adam");
    EXPECT_GT(max_abs(a.detach() - w0), 0.01);
  }
}

TEST(RegularizedAdam, EveryRegularizerBothWaysMatchesHandComputedSteps) {
  torch::manual_seed(3);
  const double lr = 0.02, b1 = 0.8, b2 = 0.95, e = 1e-8;
  for (const auto& base : regularizers())
    for (bool decoupled : {false, true}) {
      auto reg = base.applied_decoupled(decoupled);
      auto w = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.3;
      auto p = w.clone().requires_grad_(true);
      auto opt = adam(p, RegularizedAdamOptions(lr).beta1(b1).beta2(b2).eps(e).regularizer(reg));
      auto m = torch::zeros_like(w), v = torch::zeros_like(w);
      for (int t = 1; t <= 3; ++t) {
        auto g = torch::randn_like(w);
        set_grad(p, g);
        opt.step();
        auto gc = decoupled ? g : g + dR(reg, w);
        m = b1 * m + (1 - b1) * gc;
        v = b2 * v + (1 - b2) * gc * gc;
        auto u = m / (v.sqrt() / std::sqrt(1 - std::pow(b2, t)) + e);
        if (decoupled) w = w - lr * dR(reg, w);
        w = w - lr / (1 - std::pow(b1, t)) * u;
      }
      EXPECT_LT(max_abs(p.detach() - w), 1e-13) << reg.describe();
    }
}

TEST(RegularizedAdam, LambTakesTheTrustRatioOnTheRegularizedUpdate) {
  torch::manual_seed(4);
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, e = 1e-6;
  for (const auto& base : regularizers()) {
    auto reg = base.applied_decoupled();
    auto w = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.3;
    auto bias0 = torch::randn({4}, torch::kFloat64);
    auto p = w.clone().requires_grad_(true), bias = bias0.clone().requires_grad_(true);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    auto o = RegularizedAdamOptions(lr).beta1(b1).beta2(b2).eps(e).trust_ratio(true);
    groups.emplace_back(std::vector<torch::Tensor>{p}, std::make_unique<RegularizedAdamOptions>(RegularizedAdamOptions(o).regularizer(reg)));
    groups.emplace_back(std::vector<torch::Tensor>{bias}, std::make_unique<RegularizedAdamOptions>(o));
    RegularizedAdam opt(std::move(groups), o);
    auto m = torch::zeros_like(w), v = torch::zeros_like(w), mb = torch::zeros_like(bias0), vb = torch::zeros_like(bias0);
    auto b = bias0.clone();
    for (int t = 1; t <= 2; ++t) {
      auto g = torch::randn_like(w), gb = torch::randn_like(bias0);
      set_grad(p, g);
      set_grad(bias, gb);
      opt.step();
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      auto u = (m / (1 - std::pow(b1, t))) / (v.sqrt() / std::sqrt(1 - std::pow(b2, t)) + e) + dR(reg, w);
      const double trust = w.norm().item<double>() / u.norm().item<double>();
      w = w - lr * trust * u;
      mb = b1 * mb + (1 - b1) * gb;  // a 1-D parameter: no trust ratio, no decay in its group
      vb = b2 * vb + (1 - b2) * gb * gb;
      b = b - lr * (mb / (1 - std::pow(b1, t))) / (vb.sqrt() / std::sqrt(1 - std::pow(b2, t)) + e);
    }
    EXPECT_LT(max_abs(p.detach() - w), 1e-13) << reg.describe();
    EXPECT_LT(max_abs(bias.detach() - b), 1e-13);
  }
}

TEST(RegularizedSGD, LarsTakesTheTrustRatioOnTheRegularizedGradient) {
  torch::manual_seed(5);
  const double lr = 0.5, mom = 0.9, c = 0.01;
  for (const auto& reg : regularizers()) {
    auto w = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.3;
    auto p = w.clone().requires_grad_(true);
    auto opt = sgd(p, RegularizedSGDOptions(lr).momentum(mom).trust_coefficient(c).regularizer(reg));
    torch::Tensor buf;
    for (int t = 0; t < 3; ++t) {
      auto g = torch::randn_like(w);
      set_grad(p, g);
      opt.step();
      auto d = g + dR(reg, w);
      d = d * (c * w.norm().item<double>() / d.norm().item<double>());
      buf = t == 0 ? d : mom * buf + d;
      w = w - lr * buf;
    }
    EXPECT_LT(max_abs(p.detach() - w), 1e-14) << reg.describe();
  }
}

TEST(Projection, CosineTestProjectsPerFilterOrLayerAsClovaai) {
  torch::manual_seed(6);
  const ProjectionOptions o;  // δ 0.1, wd_ratio 0.1, eps 1e-8
  auto p = torch::randn({5, 2, 3, 3}, torch::kFloat64);
  // (a) a gradient orthogonal to every filter: the channel view passes, the update loses its radial part
  auto g = tangential(p, torch::randn_like(p));
  auto u = torch::randn_like(p);
  auto [expected, projected] = reference_projection(p, g, u, o.delta, o.eps);
  ASSERT_TRUE(projected);
  auto ours = u.clone();
  EXPECT_EQ(project_update_(p, g, ours, Projection::Cosine, o), o.wd_ratio);
  EXPECT_LT(max_abs(ours - expected), 1e-14);
  EXPECT_LT(max_abs((ours.reshape({5, -1}) * p.reshape({5, -1})).sum(1)), 1e-6);  // ⟨u_k, p_k⟩ = 0 up to eps
  EXPECT_GT(max_abs(ours - u), 0.01);
  // (b) a gradient along the weight: no projection, factor 1, update untouched
  auto along = u.clone();
  EXPECT_EQ(project_update_(p, p * 2, along, Projection::Cosine, o), 1.0);
  EXPECT_TRUE(along.equal(u));
  // (c) rows parallel to their gradients, but the whole tensor orthogonal: the layer view projects
  auto q = torch::tensor({1.0, 0., 0., 0., 0., 1.0, 0., 0.}, torch::kFloat64).view({2, 4});
  auto gq = torch::tensor({1.0, 0., 0., 0., 0., -1.0, 0., 0.}, torch::kFloat64).view({2, 4});
  auto uq = torch::tensor({0.5, 1., 2., 0., 0.3, 0., 1., 1.}, torch::kFloat64).view({2, 4});
  auto [eq, pq] = reference_projection(q, gq, uq, o.delta, o.eps);
  ASSERT_TRUE(pq);
  auto oq = uq.clone();
  EXPECT_EQ(project_update_(q, gq, oq, Projection::Cosine, o), o.wd_ratio);
  EXPECT_LT(max_abs(oq - eq), 1e-15);
  // (d) Always projects per filter whatever the gradient; Never and Off leave it; 1-D never
  auto forced = u.clone();
  EXPECT_EQ(project_update_(p, p, forced, Projection::Always, o), o.wd_ratio);
  EXPECT_LT(max_abs(forced - reference_projection(p, p, u, o.delta, o.eps, /*force_channel=*/true).first), 1e-14);
  for (auto mode : {Projection::Never, Projection::Off}) {
    auto same = u.clone();
    EXPECT_EQ(project_update_(p, g, same, mode, o), 1.0);
    EXPECT_TRUE(same.equal(u));
  }
  auto v = torch::randn({7}, torch::kFloat64), vu = torch::randn({7}, torch::kFloat64), vu0 = vu.clone();
  EXPECT_EQ(project_update_(v, torch::zeros_like(v), vu, Projection::Always, o), 1.0);
  EXPECT_TRUE(vu.equal(vu0));
  // channels-last memory: the same numbers
  auto p_cl = p.contiguous(torch::MemoryFormat::ChannelsLast), u_cl = u.contiguous(torch::MemoryFormat::ChannelsLast);
  project_update_(p_cl, g, u_cl, Projection::Cosine, o);
  EXPECT_LT(max_abs(u_cl - expected), 1e-14);
}

TEST(RegularizedSGD, SgdpProjectsTheMomentumAndScalesItsDecay) {
  torch::manual_seed(7);
  const double lr = 0.1, mom = 0.9, lambda = 0.01;
  const ProjectionOptions po;
  for (const auto& base : {Regularizer::l2(lambda), Regularizer::eps_shifted(WeightFamily::WS, lambda, 0.5)}) {
    auto reg = base.applied_decoupled();
    auto w = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.3;
    auto p = w.clone().requires_grad_(true);
    auto opt = sgd(p, RegularizedSGDOptions(lr).momentum(mom).regularizer(reg).projection(Projection::Cosine));
    torch::Tensor buf;
    for (int t = 0; t < 2; ++t) {
      auto g = tangential(w, torch::randn_like(w));  // the gradient of a scale-invariant weight
      set_grad(p, g);
      opt.step();
      buf = t == 0 ? g : mom * buf + g;
      auto [u, projected] = reference_projection(w, g, buf, po.delta, po.eps);
      ASSERT_TRUE(projected);
      buf = u;  // clovaai: without nesterov the buffer itself is projected
      w = w - lr * po.wd_ratio / (1 - mom) * dR(reg, w);
      w = w - lr * u;
    }
    EXPECT_LT(max_abs(p.detach() - w), 1e-14) << reg.describe();
  }
  auto q = torch::ones({2, 2}).requires_grad_(true);
  EXPECT_THROW(sgd(q, RegularizedSGDOptions(0.1).momentum(0.9).regularizer(Regularizer::l2(0.1)).projection(Projection::Cosine)),
               c10::Error);  // SGDP decays decoupled only
}

TEST(RegularizedAdam, AdamPProjectsTheDirectionAndScalesItsDecay) {
  torch::manual_seed(8);
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, e = 1e-8, lambda = 0.02;
  const ProjectionOptions po;
  for (const auto& base : {Regularizer::l2(lambda), Regularizer::eps_shifted(WeightFamily::WS, lambda, 0.5)})
    for (auto mode : {Projection::Cosine, Projection::Always, Projection::Never}) {
      auto reg = base.applied_decoupled();
      auto w = torch::randn({4, 3, 3, 3}, torch::kFloat64) * 0.3;
      auto p = w.clone().requires_grad_(true);
      auto opt = adam(p, RegularizedAdamOptions(lr).regularizer(reg).projection(mode));
      auto m = torch::zeros_like(w), v = torch::zeros_like(w);
      for (int t = 1; t <= 2; ++t) {
        auto g = tangential(w, torch::randn_like(w));
        set_grad(p, g);
        opt.step();
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        torch::Tensor u = m / (v.sqrt() / std::sqrt(1 - std::pow(b2, t)) + e);
        double ratio = 1;
        if (mode != Projection::Never) {
          u = reference_projection(w, g, u, po.delta, po.eps, mode == Projection::Always).first;
          ratio = po.wd_ratio;
        }
        w = w - lr * ratio * dR(reg, w);
        w = w - lr / (1 - std::pow(b1, t)) * u;
      }
      EXPECT_LT(max_abs(p.detach() - w), 1e-14) << reg.describe() << " " << projection_name(mode);
    }
}

TEST(RegularizedAdam, SaveAndLoadContinueTheSameRun) {
  torch::manual_seed(9);
  auto w0 = torch::randn({3, 4}, torch::kFloat64);
  std::vector<torch::Tensor> grads;
  for (int i = 0; i < 4; ++i) grads.push_back(torch::randn_like(w0));
  const auto o = RegularizedAdamOptions(0.05).regularizer(Regularizer::eps_shifted(WeightFamily::WS, 0.1, 0.2).applied_decoupled());
  auto a = w0.clone().requires_grad_(true);
  auto opt_a = adam(a, o);
  for (int i = 0; i < 2; ++i) set_grad(a, grads[i]), opt_a.step();
  std::stringstream stream;
  {
    torch::serialize::OutputArchive out;
    opt_a.save(out);
    out.save_to(stream);
  }
  auto b = a.detach().clone().requires_grad_(true);
  auto opt_b = adam(b, o);  // LibTorch's load restores the state (moments, step), not the options
  {
    torch::serialize::InputArchive in;
    in.load_from(stream);
    opt_b.load(in);
  }
  for (int i = 2; i < 4; ++i) {
    set_grad(a, grads[i]), opt_a.step();
    set_grad(b, grads[i]), opt_b.step();
  }
  EXPECT_TRUE(a.detach().equal(b.detach()));
}

TEST(RegularizedAdam, RejectsImpossibleOptions) {
  auto p = torch::ones({2, 2}).requires_grad_(true);
  EXPECT_THROW(adam(p, RegularizedAdamOptions(-1)), c10::Error);
  EXPECT_THROW(adam(p, RegularizedAdamOptions(0.1).beta1(1)), c10::Error);
  EXPECT_THROW(adam(p, RegularizedAdamOptions(0.1).beta2(-0.1)), c10::Error);
  EXPECT_THROW(adam(p, RegularizedAdamOptions(0.1).eps(0)), c10::Error);
  EXPECT_THROW(adam(p, RegularizedAdamOptions(0.1).trust_ratio(true).projection(Projection::Cosine)), c10::Error);
  ProjectionOptions bad;
  bad.wd_ratio = 2;
  EXPECT_THROW(adam(p, RegularizedAdamOptions(0.1).projection(Projection::Cosine).projection_options(bad)), c10::Error);
}

std::vector<ParamInfo> two_params() {
  auto conv = torch::randn({4, 2, 3, 3}).requires_grad_(true);
  auto gamma = torch::ones({4}).requires_grad_(true);
  return {{"conv.weight", conv, ParamRole::NormalizedWeight, WeightFamily::WS, true},
          {"bn.weight", gamma, ParamRole::NormScale, WeightFamily::None, false}};
}

TEST(MakeOptimizer, EachNameBuildsItsOptimizerWithItsDecayApplication) {
  DecayFlags flags;
  flags.el2 = true;
  for (const auto& name : optimizer_names()) {
    OptimizerSpec spec;
    spec.name = name;
    auto opt = make_optimizer(spec, 0.01, two_params(), flags);
    ASSERT_EQ(opt->param_groups().size(), 2u) << name;  // ε-shifted conv, L2 γ
    for (const auto& g : opt->param_groups()) {
      Regularizer r;
      Projection mode;
      if (spec.sgd_family()) {
        const auto& o = static_cast<const RegularizedSGDOptions&>(g.options());
        r = o.regularizer(), mode = o.projection();
        EXPECT_EQ(o.trust_coefficient() > 0, name == "lars");
      } else {
        const auto& o = static_cast<const RegularizedAdamOptions&>(g.options());
        r = o.regularizer(), mode = o.projection();
        EXPECT_EQ(o.trust_ratio(), name == "lamb");
      }
      EXPECT_TRUE(r.active()) << name;
      EXPECT_EQ(r.decoupled, name == "adamw" || name == "lamb" || name == "sgdp" || name == "adamp") << name;
      EXPECT_EQ(mode, spec.projects() ? Projection::Cosine : Projection::Off) << name;
    }
  }
  flags.decoupled = true;  // --decoupled-wd turns sgd's coupled decay decoupled
  auto opt = make_optimizer(OptimizerSpec{}, 0.1, two_params(), flags);
  EXPECT_TRUE(static_cast<const RegularizedSGDOptions&>(opt->param_groups()[0].options()).regularizer().decoupled);
}

TEST(MakeOptimizer, EveryOptimizerTakesAFiniteStepOnAZeroOrConstantFilterWithTheEpsilonShift) {
  // a zero-initialised conv (zero-init residual, a pruned filter) and a constant filter: r = 0, where
  // the ε-term's (1 − ε/r) is −∞ (regularizer.h defines the limit); every form, every optimizer,
  // sgd and adam coupled and decoupled
  for (auto family : {WeightFamily::WS, WeightFamily::CWN, WeightFamily::WN})
    for (const auto& name : optimizer_names())
      for (bool decoupled : {false, true}) {
        if (decoupled && name != "sgd" && name != "adam") continue;
        auto conv = torch::zeros({3, 2, 3, 3});
        conv[1].fill_(0.25);
        conv[2].normal_();
        conv.requires_grad_(true);
        std::vector<ParamInfo> params{{"conv.weight", conv, ParamRole::NormalizedWeight, family, true}};
        DecayFlags flags;
        flags.el2 = true, flags.lam = 0.1, flags.mineps = 0.05, flags.decoupled = decoupled;
        OptimizerSpec spec;
        spec.name = name;
        auto opt = make_optimizer(spec, 0.1, params, flags);
        for (int step = 0; step < 2; ++step) {
          conv.mutable_grad() = torch::zeros_like(conv);  // a dead filter's gradient, for all three
          opt->step();
          ASSERT_TRUE(torch::isfinite(conv).all().item<bool>())
              << name << " " << family_name(family) << (decoupled ? " decoupled" : "") << " step " << step << "\n" << conv;
        }
        EXPECT_TRUE(torch::equal(conv[0], torch::zeros_like(conv[0]))) << name << ": a zero filter stays zero";
      }
}

TEST(MakeOptimizer, KnownInvarianceSplitsGroupsIntoAlwaysAndNever) {
  OptimizerSpec spec;
  spec.name = "sgdp";
  spec.invariance = "roles";
  auto opt = make_optimizer(spec, 0.1, two_params(), DecayFlags{}, {true, false});
  ASSERT_EQ(opt->param_groups().size(), 2u);
  std::set<Projection> modes;
  for (const auto& g : opt->param_groups()) {
    const auto& o = static_cast<const RegularizedSGDOptions&>(g.options());
    modes.insert(o.projection());
    EXPECT_EQ(o.projection() == Projection::Always, g.params()[0].dim() == 4);
  }
  EXPECT_EQ(modes, (std::set<Projection>{Projection::Always, Projection::Never}));
  EXPECT_THROW(make_optimizer(spec, 0.1, two_params(), DecayFlags{}, {true}), c10::Error);  // one flag per parameter
}

TEST(OptimizerSpec, RejectsBadSettingsNamingTheFlag) {
  struct Case { std::function<void(OptimizerSpec&)> set; std::string flag; };
  for (const auto& c : std::vector<Case>{
           {[](OptimizerSpec& s) { s.name = "rmsprop"; }, "--optimizer"},
           {[](OptimizerSpec& s) { s.beta1 = 1; }, "--beta1"},
           {[](OptimizerSpec& s) { s.beta2 = -1; }, "--beta2"},
           {[](OptimizerSpec& s) { s.adam_eps = 0; }, "--adam-eps"},
           {[](OptimizerSpec& s) { s.trust_coefficient = 0; }, "--trust-coefficient"},
           {[](OptimizerSpec& s) { s.proj_delta = -1; }, "--proj-delta"},
           {[](OptimizerSpec& s) { s.wd_ratio = 1.5; }, "--wd-ratio"},
           {[](OptimizerSpec& s) { s.name = "sgdp", s.invariance = "guess"; }, "--invariance"},
           {[](OptimizerSpec& s) { s.invariance = "roles"; }, "--invariance roles needs --optimizer sgdp or adamp"}}) {
    OptimizerSpec s;
    c.set(s);
    try {
      s.validate();
      ADD_FAILURE() << "accepted: " << c.flag;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.flag), std::string::npos) << e.what();
    }
  }
  OptimizerSpec adamw;
  adamw.name = "adamw";
  EXPECT_TRUE(adamw.applied(DecayFlags{}).decoupled);
  EXPECT_FALSE(OptimizerSpec{}.applied(DecayFlags{}).decoupled);
}

}  // namespace optimizers_test
