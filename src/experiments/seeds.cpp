// Plain L2 vs ε-shifted L2 (and no decay on the conv weights) over K seeds: is the difference
// larger than the seed-to-seed spread?
#include <cmath>
#include <sstream>

#include "eshift/experiments/common.h"
#include "eshift/analysis/report.h"

namespace eshift {

ExperimentResult run_seeds(const ExperimentOptions& o) {
  const auto dir = prepare_experiment_dir(o.out_dir);
  TORCH_CHECK(o.seeds >= 1, "--seeds must be >= 1");
  RunDefaults d;
  d.train_subset = 5000;
  d.epochs = 3;
  d.probe_every = 20;
  const double lambda = o.lambda.value_or(5e-4), eps = o.eps.value_or(1e-3);

  struct Arm {
    std::string name, title;
    ConvDecay conv;
    std::vector<double> test_acc, train_loss, sigma_min;
    std::vector<std::string> dirs;
  };
  std::vector<Arm> arms = {{"no_decay", "no decay on conv weights", ConvDecay::None, {}, {}, {}, {}},
                           {"plain_l2", "plain L2", ConvDecay::L2, {}, {}, {}, {}},
                           {"eps_l2", "ε-shifted L2", ConvDecay::EpsShifted, {}, {}, {}, {}}};
  int64_t test_images = 0;
  for (int k = 0; k < o.seeds; ++k) {
    ExperimentOptions ok = o;
    ok.seed = o.seed + k;
    for (auto& arm : arms) {
      auto c = experiment_run(ok, d, arm.name + "_seed" + std::to_string(ok.seed), dir);
      c.schedule.cosine = true;
      c.decay = conv_decay_preset(arm.conv, lambda, eps, /*others_wd=*/lambda, c.decay);  // BN γ and fc: L2 λ in every arm
      auto r = train_run(c);
      test_images = r.test_images;
      arm.dirs.push_back(c.out_dir);
      if (r.history.empty()) continue;
      arm.test_acc.push_back(r.history.back().value("test_acc"));
      arm.train_loss.push_back(r.history.back().value("train_loss"));
      arm.sigma_min.push_back(r.history.back().sigma_min);
    }
  }
  std::ostringstream t;
  t << "| decay on conv weights | test accuracy (%) | final train loss | min σ at the end | runs |\n"
       "|---|---|---|---|---|\n";
  for (const auto& arm : arms)
    t << "| " << arm.title << " | " << mean_pm_std(arm.test_acc, 100) << " | " << mean_pm_std(arm.train_loss, 1, 4)
      << " | " << mean_pm_std(arm.sigma_min, 1, 4) << " | " << arm.test_acc.size() << " |\n";

  // the claim: the ε-shift beats plain L2 in test accuracy by more than the seeds' spread (twice the
  // standard error of the difference of the means); one seed has no spread to compare with
  const auto& plain = arms[1];
  const auto& shifted = arms[2];
  auto variance = [](const std::vector<double>& v) { return sample_std(v) * sample_std(v); };
  const bool enough = plain.test_acc.size() >= 2 && shifted.test_acc.size() >= 2;
  const double diff = enough ? sample_mean(shifted.test_acc) - sample_mean(plain.test_acc) : NAN;
  const double two_se = enough ? 2 * std::sqrt(variance(shifted.test_acc) / shifted.test_acc.size() +
                                               variance(plain.test_acc) / plain.test_acc.size())
                               : NAN;
  ExperimentResult r;
  r.holds = enough && diff > 0 && diff > two_se;
  t << "\n"
    << verdict_line(r.holds, "ε-shifted L2 beating plain L2 by more than the seed spread",
                    enough ? strprintf("test accuracy ε-shifted minus plain L2: %+.2f points, twice its standard error "
                                       "%.2f points, over %zu seeds",
                                       100 * diff, 100 * two_se, shifted.test_acc.size())
                           : strprintf("%zu seed(s) per arm: at least 2 are needed to measure the spread",
                                       shifted.test_acc.size()),
                    test_images);
  r.table = t.str();
  std::vector<RunData> first_seed;
  for (const auto& arm : arms) first_seed.push_back(load_run(arm.dirs.front()));
  std::ostringstream md;
  md << "Three arms, " << o.seeds << " seed(s) each (mean ± sample std): no decay on the conv weights, plain L2 (λ = "
     << lambda << "), ε-shifted L2 (λ = " << lambda << ", ε = " << eps << "); BN γ and fc get L2 λ in every arm. "
     << first_seed.front().epochs.size() << " epochs (cosine) of " << d.train_subset << " images unless overridden.\n\n"
     << r.table << "\nFigures: the first seed of each arm.\n\n"
     << report_runs(first_seed, dir);
  r.summary = write_summary(dir, md.str());
  return r;
}

}  // namespace eshift
