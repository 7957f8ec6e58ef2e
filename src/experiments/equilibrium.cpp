// Spherical motion dynamics / rotational equilibrium: with SGD (momentum α) and L2 λ, the
// angular update per step of a scale-invariant weight settles at about √(2ηλ/(1+α)).
// The ε-shift decays the centered part by λ(1 − ε/σ) instead of λ: its prediction uses that.
#include <cmath>
#include <sstream>

#include "eshift/experiments/common.h"
#include "eshift/analysis/report.h"

namespace eshift {

namespace {
// Mean of the median angular update over the last quarter of the probes, and the median σ there.
std::pair<double, double> steady_state(const TrainResult& r) {
  const size_t n = r.probes.size();
  double angle = 0, sigma = 0;
  size_t count = 0;
  for (size_t i = n - n / 4; i < n; ++i, ++count) {
    angle += r.probes[i].angular_update_median;
    sigma += r.probes[i].median_sigma_over_layers();
  }
  if (count == 0) return {NAN, NAN};
  return {angle / count, sigma / count};
}
}  // namespace

ExperimentResult run_equilibrium(const ExperimentOptions& o) {
  const auto dir = prepare_experiment_dir(o.out_dir);
  RunDefaults d;
  d.model = "resnet8";
  d.train_subset = 16000;
  d.test_subset = 2000;
  d.batch_size = 64;
  d.epochs = 6;
  d.probe_every = 10;
  const double lambda = o.lambda.value_or(5e-3), eps = o.eps.value_or(1e-3), alpha = 0.9;

  auto plain = experiment_run(o, d, "plain_l2", dir);
  plain.optimizer.momentum = alpha;
  plain.decay = conv_decay_preset(ConvDecay::L2, lambda, eps, /*others_wd=*/0, plain.decay);
  auto shifted = experiment_run(o, d, "eps_l2", dir);
  shifted.optimizer.momentum = alpha;
  shifted.decay = conv_decay_preset(ConvDecay::EpsShifted, lambda, eps, /*others_wd=*/0, shifted.decay);
  auto a = train_run(plain), b = train_run(shifted);
  const double eta = plain.schedule.base_lr;
  const double predicted = std::sqrt(2 * eta * lambda / (1 + alpha));
  auto [angle_a, sigma_a] = steady_state(a);
  auto [angle_b, sigma_b] = steady_state(b);
  const double predicted_b = std::sqrt(2 * eta * lambda * std::max(0.0, 1 - eps / sigma_b) / (1 + alpha));

  std::ostringstream t;
  char row[256];
  t << "| | plain L2 | ε-shifted L2 |\n|---|---|---|\n";
  std::snprintf(row, sizeof row, "| measured angular update per step (last quarter, rad) | %.4g | %.4g |\n", angle_a,
                angle_b);
  t << row;
  std::snprintf(row, sizeof row, "| predicted √(2ηλ_eff/(1+α)) | %.4g | %.4g |\n", predicted, predicted_b);
  t << row;
  std::snprintf(row, sizeof row, "| measured / predicted | %.3f | %.3f |\n", angle_a / predicted, angle_b / predicted_b);
  t << row;
  std::snprintf(row, sizeof row, "| median filter σ (last quarter) | %.4g | %.4g |\n", sigma_a, sigma_b);
  t << row;
  std::snprintf(row, sizeof row, "| λ_eff on the centered weights | %.4g | λ(1−ε/σ) = %.4g |\n", lambda,
                lambda * (1 - eps / sigma_b));
  t << row;

  Figure fig{"Angular update per step against the equilibrium sqrt(2*eta*lambda/(1+alpha))", "step", "radians", true, {}};
  for (const auto* run : {&a, &b}) {
    Series s{run == &a ? "plain L2, measured" : "eps-shifted L2, measured", {}, {}};
    for (const auto& p : run->probes) {
      s.x.push_back(double(p.step));
      s.y.push_back(p.angular_update_median);
    }
    fig.series.push_back(s);
  }
  if (!a.probes.empty())
    fig.series.push_back({"plain L2, predicted", {0.0, double(a.probes.back().step)}, {predicted, predicted}});
  render_png(fig, dir + "/equilibrium.png");

  ExperimentResult r;
  r.holds = std::abs(angle_a / predicted - 1) < 0.25;
  t << "\n"
    << verdict_line(r.holds, "the rotational equilibrium under plain L2",
                    strprintf("measured/predicted angular update for plain L2: %.3f (measured %.4g rad, predicted "
                              "√(2ηλ/(1+α)) = %.4g rad; within 25%% is required)",
                              angle_a / predicted, angle_a, predicted),
                    a.test_images);
  r.table = t.str();
  std::ostringstream md;
  md << "Constant learning rate η = " << eta << ", momentum α = " << alpha << ", decay λ = " << lambda
     << " on the conv weights only, " << plain.epochs << " epochs of " << plain.train_subset << " images, batch "
     << plain.batch_size << " (" << a.probes.size() * plain.probe_every << " steps). Theory (spherical motion "
     << "dynamics, rotational equilibrium): the angular update per step settles at √(2ηλ/(1+α)). For the "
     << "ε-shifted run the centered weights decay at λ(1 − ε/σ).\n\n"
     << r.table << "\n![equilibrium](equilibrium.png)\n\nMeasured/predicted for plain L2: " << angle_a / predicted
     << (r.holds ? " (within 25%: the equilibrium shows)" : " (NOT within 25%)") << ".\n\n"
     << report_runs({load_run(plain.out_dir), load_run(shifted.out_dir)}, dir);
  r.summary = write_summary(dir, md.str());
  return r;
}

}  // namespace eshift
