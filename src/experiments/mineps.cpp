// Beyond the paper: --mineps auto (observe/eps_calibration.h) against a sweep of fixed ε on the
// collapse setting (strong plain-L2-strength decay on the conv weights, where ε matters), over seeds.
// Does the ε chosen from the run's own gradients land within the spread of the best fixed ε?
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "eshift/analysis/report.h"
#include "eshift/experiments/common.h"

namespace eshift {

ExperimentResult run_mineps(const ExperimentOptions& o) {
  const auto dir = prepare_experiment_dir(o.out_dir);
  TORCH_CHECK(o.seeds >= 1, "--seeds must be >= 1");
  RunDefaults d;  // the demo's collapse setting (experiments/demo.h)
  d.model = "resnet8";
  d.train_subset = 8000;
  d.test_subset = 2000;
  d.batch_size = 64;
  d.epochs = 4;
  d.probe_every = 10;
  const double lambda = o.lambda.value_or(0.05);
  const std::vector<double> sweep = {1e-3, 3e-3, 1e-2, 2e-2, 5e-2};

  struct Arm {
    std::string name, title;
    double eps;  // 0: auto
    std::vector<double> test_acc, train_loss, sigma_min, overflow, chosen;
  };
  std::vector<Arm> arms = {{"auto", "auto", 0, {}, {}, {}, {}, {}}};
  for (double eps : sweep) arms.push_back({strprintf("eps_%g", eps), strprintf("ε = %g", eps), eps, {}, {}, {}, {}, {}});
  int64_t test_images = 0;
  for (int k = 0; k < o.seeds; ++k) {
    ExperimentOptions ok = o;
    ok.seed = o.seed + k;
    for (auto& arm : arms) {
      auto c = experiment_run(ok, d, arm.name + "_seed" + std::to_string(ok.seed), dir);
      c.hflip = false;
      c.crop_padding = 0;
      c.decay = conv_decay_preset(ConvDecay::EpsShifted, lambda, arm.eps, /*others_wd=*/0, c.decay);
      c.decay.mineps_auto = arm.eps == 0;
      auto r = train_run(c);
      test_images = r.test_images;
      if (r.history.empty()) continue;
      arm.test_acc.push_back(r.history.back().value("test_acc"));
      arm.train_loss.push_back(r.history.back().value("train_loss"));
      arm.sigma_min.push_back(r.history.back().sigma_min);
      arm.overflow.push_back(r.probes.empty() ? 0.0 : double(r.probes.back().fp16_overflow_steps));
      // the ε the run used: auto's median over its layers
      std::ifstream file(c.out_dir + "/config.json");
      const auto config = nlohmann::json::parse(file);
      std::vector<double> layers;
      if (config.contains("mineps_layers"))
        for (const auto& [layer, eps] : config["mineps_layers"].items()) layers.push_back(eps.get<double>());
      std::sort(layers.begin(), layers.end());
      arm.chosen.push_back(layers.empty() ? arm.eps : layers[layers.size() / 2]);
    }
  }

  std::ostringstream t;
  t << "| ε | ε used (auto: the median over its layers; mean over seeds) | test accuracy (%) | final train loss | min σ at the end | steps that would "
       "overflow float16 at the loss scale | runs |\n|---|---|---|---|---|---|---|\n";
  for (const auto& arm : arms)
    t << "| " << arm.title << " | " << (arm.eps > 0 ? strprintf("%g", arm.eps) : strprintf("%.3g ± %.2g", sample_mean(arm.chosen), sample_std(arm.chosen))) << " | " << mean_pm_std(arm.test_acc, 100) << " | "
      << mean_pm_std(arm.train_loss, 1, 4) << " | " << mean_pm_std(arm.sigma_min, 1, 4) << " | "
      << mean_pm_std(arm.overflow, 1, 1) << " | " << arm.test_acc.size() << " |\n";

  // the best fixed ε by mean test accuracy; auto holds when it is within one sample std of it (the
  // larger of the two arms' std)
  size_t best = 1;
  for (size_t a = 2; a < arms.size(); ++a)
    if (sample_mean(arms[a].test_acc) > sample_mean(arms[best].test_acc)) best = a;
  const auto& autos = arms[0];
  const double spread = std::max(sample_std(arms[best].test_acc), sample_std(autos.test_acc));
  const double gap = sample_mean(arms[best].test_acc) - sample_mean(autos.test_acc);
  ExperimentResult r;
  r.holds = o.seeds >= 2 && gap <= spread;
  t << "\n"
    << verdict_line(r.holds, "--mineps auto lands within the best fixed ε's spread",
                    strprintf("test accuracy: auto %.2f%% (ε %.3g on average), best fixed %s %.2f%%, difference %.2f points "
                              "against a spread of %.2f points (the larger sample std of the two, %d seeds)",
                              100 * sample_mean(autos.test_acc), sample_mean(autos.chosen), arms[best].title.c_str(),
                              100 * sample_mean(arms[best].test_acc), 100 * gap, 100 * spread, o.seeds),
                    test_images);
  r.table = t.str();
  std::ostringstream md;
  md << "--mineps auto against fixed ε: the ε-shifted L2 with λ = " << lambda << " on the conv weights only, "
     << d.epochs << " epochs of " << d.train_subset << " images (" << d.model << ", batch " << d.batch_size
     << ", constant rate " << d.lr << "), seeds " << o.seed << "–" << o.seed + o.seeds - 1
     << ". auto trains the first epoch with ε = 0 and then takes, per layer, ε_l = 2 · 2^16 · P_l / 65504, P_l the largest "
        "max|g|·σ of the layer's filters over the epoch's second half.\n\n"
     << r.table;
  r.summary = write_summary(dir, md.str());
  return r;
}

}  // namespace eshift
