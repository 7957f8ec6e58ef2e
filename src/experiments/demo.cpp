#include "eshift/experiments/demo.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "eshift/analysis/report.h"
#include "eshift/core/atomic_file.h"
#include "eshift/core/run_lock.h"
#include "eshift/experiments/common.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/tasks/classification.h"

namespace eshift {

namespace fs = std::filesystem;

void apply_demo_preset(const std::string& preset, DemoOptions& o) {
  TrainConfig& c = o.base;
  if (preset == "collapse") {
    c.model.name = "resnet8";
    c.train_subset = 8000;
    c.test_subset = 2000;
    c.epochs = 4;
    c.batch_size = 64;
    c.schedule.base_lr = 0.1;
    c.schedule.cosine = false;
    c.hflip = false;
    c.crop_padding = 0;
    c.probe_every = 10;
    o.lambda = 0.05;
    o.eps = 0.02;
    o.others_wd = 0;
    o.no_decay_arm = true;
    o.seeds = 3;
  } else if (preset == "classic") {
    c.model.name = "resnet20";
    c.train_subset = 20000;
    c.test_subset = 0;
    c.epochs = 5;
    c.batch_size = 128;
    c.schedule.base_lr = 0.1;
    c.schedule.cosine = true;
    c.hflip = true;
    c.crop_padding = find_dataset(c.data).crop_padding;
    c.probe_every = 50;
    o.lambda = 5e-4;
    o.eps = 1e-3;
    o.others_wd = 5e-4;
    o.no_decay_arm = false;
    o.seeds = 1;
  } else {
    throw std::invalid_argument("unknown --preset '" + preset + "' (collapse or classic)");
  }
  o.preset = preset;
}

namespace {
// The spread of the default setting, measured with `eshift demo --seeds 5` (see README).
constexpr const char* kMeasuredSpread =
    "on the default setting 5 seeds on a 2-core VM gave test accuracy 61.1 ± 15.0 % with plain L2 and 76.1 ± 1.9 % "
    "with the ε-shift, training loss 0.771 ± 0.008 and 0.559 ± 0.015: plain L2's accuracy swings because BatchNorm's "
    "running statistics meet collapsed filters, its training loss does not";

// What one run showed, from its epochs and probes.
struct RunStats {
  double test_acc = NAN, train_loss = NAN, sigma_min = NAN, below_share = NAN, seconds = 0;
  double grad_first = NAN, grad_max = 0, scaled_ratio_max = 0, eff_lr_first = NAN, eff_lr_last = NAN;
  double overflow_steps = 0;  // up to the last probe
  int64_t steps = 0;
  bool diverged = false;
};

RunStats stats_of(const TrainResult& r) {
  RunStats s;
  s.diverged = r.diverged;
  if (!r.history.empty()) {
    const auto& last = r.history.back();
    s.test_acc = last.value("test_acc");
    s.train_loss = last.value("train_loss");
    s.sigma_min = last.sigma_min;
    s.below_share = last.sigma_below_share;
  }
  for (const auto& e : r.history) s.seconds += e.seconds;
  for (const auto& p : r.probes) {
    if (std::isnan(s.grad_first)) s.grad_first = p.grad_max_abs, s.eff_lr_first = p.effective_lr_median;
    s.grad_max = std::max(s.grad_max, p.grad_max_abs);
    s.scaled_ratio_max = std::max(s.scaled_ratio_max, p.fp16_scaled_ratio);
    s.overflow_steps = double(p.fp16_overflow_steps);  // a running count
    s.steps = p.step;
    s.eff_lr_last = p.effective_lr_median;
  }
  return s;
}

std::vector<double> each(const std::vector<RunStats>& runs, double RunStats::*field) {
  std::vector<double> out;
  for (const auto& r : runs) out.push_back(r.*field);
  return out;
}

// "0.0123" or, over several seeds, "0.0123 ± 0.00041" (the spread to 2 significant digits; percentages
// keep their own format)
std::string cell(const std::vector<double>& v, const char* format, double scale = 1) {
  if (std::all_of(v.begin(), v.end(), [](double x) { return std::isnan(x); })) return "–";  // no probe taken
  const bool percent = std::string(format).find("%%") != std::string::npos;
  std::string out = strprintf(format, scale * sample_mean(v));
  if (v.size() > 1) out += " ± " + strprintf(percent ? format : "%.2g", scale * sample_std(v));
  return out;
}

std::string g3(double v) { return strprintf("%.3g", v); }

// Removes a previous demo from `dir` (it holds demo.json) or refuses a directory with anything else
// (but the demo's own lock).
void prepare_demo_dir(const std::string& dir) {
  bool empty = true;
  for (const auto& entry : fs::directory_iterator(dir)) empty = empty && entry.path().filename() == "run.lock";
  if (empty) return;
  if (!fs::exists(dir + "/demo.json"))
    throw std::invalid_argument(dir + " is not empty and holds no earlier demo (demo.json): choose another --out");
  std::cout << "replacing the earlier demo in " << dir << "\n";
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool arm = name.rfind("plain_l2", 0) == 0 || name.rfind("eps_l2", 0) == 0 || name.rfind("no_decay", 0) == 0;
    const std::string ext = entry.path().extension().string();
    if ((arm && entry.is_directory()) || name == "report.md" || name == "demo.json" || ext == ".png" || ext == ".dat" ||
        ext == ".gp" || ext == ".log")
      fs::remove_all(entry.path());
  }
}

std::string settings_line(const DemoOptions& o) {
  const auto& c = o.base;
  return strprintf("%s (wnorm %s, norm %s) on %s: %s training images, %s test images, %d epochs, batch %lld, lr %g%s, "
                   "momentum %g; decay λ = %g on the conv weights%s, ε = %g; seed%s %llu%s",
                   c.model.name.c_str(), family_name(c.model.wnorm).c_str(), c.model.norm.c_str(),
                   c.resolved_data_dir().c_str(), c.train_subset ? std::to_string(c.train_subset).c_str() : "all",
                   c.test_subset ? std::to_string(c.test_subset).c_str() : "all", c.epochs, (long long)c.batch_size,
                   c.schedule.base_lr, c.schedule.cosine ? " (cosine)" : " (constant)", c.optimizer.momentum, o.lambda,
                   o.others_wd > 0 ? strprintf(", L2 %g on BN γ and the classifier", o.others_wd).c_str()
                                   : " only (BN and the classifier undecayed)",
                   o.eps, o.seeds > 1 ? "s" : "", (unsigned long long)c.seed,
                   o.seeds > 1 ? strprintf("–%llu", (unsigned long long)(c.seed + o.seeds - 1)).c_str() : "");
}
}  // namespace

DemoResult run_demo(const DemoOptions& o) {
  if (o.seeds < 1) throw std::invalid_argument("--seeds must be >= 1");
  if (o.base.decay.mineps_auto) throw std::invalid_argument("the demo compares a fixed ε: give --mineps a number");
  const std::string dir = o.out_dir;
  RunLock lock(dir);  // one demo per directory at a time (creates it)
  prepare_demo_dir(dir);
  nlohmann::json marker{{"preset", o.preset}, {"lambda", o.lambda}, {"eps", o.eps}, {"seeds", o.seeds}};
  write_text_atomic(dir + "/demo.json", marker.dump() + "\n");

  DemoResult result;
  struct ArmSpec {
    const char *name, *title, *label;
    ConvDecay decay;
  };
  std::vector<ArmSpec> specs = {{"plain_l2", "plain L2", "plain-L2", ConvDecay::L2},
                                {"eps_l2", "ε-shifted L2", "eps-L2", ConvDecay::EpsShifted}};
  if (o.no_decay_arm) specs.push_back({"no_decay", "no decay", "no-decay", ConvDecay::None});
  for (const auto& spec : specs) result.arms.push_back({spec.name, spec.title, {}});
  for (int s = 0; s < o.seeds; ++s)
    for (size_t a = 0; a < specs.size(); ++a) {
      TrainConfig c = o.base;
      c.decay = conv_decay_preset(specs[a].decay, o.lambda, o.eps, o.others_wd, o.base.decay);
      c.seed = o.base.seed + s;
      c.out_dir = dir + "/" + specs[a].name + (o.seeds > 1 ? "-seed" + std::to_string(c.seed) : "");
      c.label = specs[a].label;
      std::cout << "\n" << specs[a].title << (o.seeds > 1 ? ", seed " + std::to_string(c.seed) : "") << "\n";
      auto run = train(c, classification_task());
      if (run.interrupted) throw Interrupted(specs[a].title + std::string(": ") + run.stop_message);
      result.arms[a].runs.push_back(std::move(run));
    }

  // ---------------------------------------------------------------- the table
  std::vector<std::vector<RunStats>> st;
  for (const auto& arm : result.arms) {
    std::vector<RunStats> v;
    for (const auto& r : arm.runs) v.push_back(stats_of(r));
    st.push_back(v);
  }
  std::ostringstream t;
  t << "| after " << o.base.epochs << " epochs" << (o.seeds > 1 ? " (mean ± std over " + std::to_string(o.seeds) + " seeds)" : "");
  for (const auto& arm : result.arms) t << " | " << arm.title;
  t << " |\n|---";
  for (size_t a = 0; a < result.arms.size(); ++a) t << "|---";
  t << "|\n";
  auto row = [&](const std::string& what, const std::function<std::string(const std::vector<RunStats>&)>& value) {
    t << "| " << what;
    for (const auto& v : st) t << " | " << value(v);
    t << " |\n";
  };
  row("smallest filter σ (ε = " + g3(o.eps) + ")", [](const auto& v) { return cell(each(v, &RunStats::sigma_min), "%.3g"); });
  row("filters with σ below ε", [](const auto& v) { return cell(each(v, &RunStats::below_share), "%.1f%%", 100); });
  row("median effective learning rate η/‖w−μ‖², first probe → last", [](const auto& v) {
    return cell(each(v, &RunStats::eff_lr_first), "%.3g") + " → " + cell(each(v, &RunStats::eff_lr_last), "%.3g");
  });
  row("largest gradient element, first probe → largest", [](const auto& v) {
    return cell(each(v, &RunStats::grad_first), "%.3g") + " → " + cell(each(v, &RunStats::grad_max), "%.3g");
  });
  row("largest max|g| · loss scale / 65504 (float16 at GradScaler's scale)",
      [](const auto& v) { return cell(each(v, &RunStats::scaled_ratio_max), "%.3g"); });
  row("steps that would overflow float16 at that scale", [](const auto& v) {
    return cell(each(v, &RunStats::overflow_steps), "%.1f") + " of " + std::to_string(v.front().steps);
  });
  row("test accuracy", [](const auto& v) { return cell(each(v, &RunStats::test_acc), "%.2f%%", 100); });
  row("final training loss", [](const auto& v) { return cell(each(v, &RunStats::train_loss), "%.4f"); });
  row("diverged", [](const auto& v) {
    int n = 0;
    for (const auto& r : v) n += r.diverged;
    return n == 0 ? std::string("no") : std::to_string(n) + " of " + std::to_string(v.size());
  });
  row("seconds (training + evaluation)", [](const auto& v) { return cell(each(v, &RunStats::seconds), "%.0f"); });
  result.table = t.str();

  // ---------------------------------------------------------------- the sentences
  auto mean = [&](size_t arm, double RunStats::*field) { return sample_mean(each(st[arm], field)); };
  std::ostringstream w;
  const double plain_sigma = mean(0, &RunStats::sigma_min), shifted_sigma = mean(1, &RunStats::sigma_min);
  w << "- **σ.** Plain L2 drove the smallest filter σ to " << g3(plain_sigma) << ", " << g3(plain_sigma / o.eps)
    << "× ε, with " << strprintf("%.0f%%", 100 * mean(0, &RunStats::below_share)) << " of the filters below ε; the ε-shift held it at "
    << g3(shifted_sigma) << " (" << g3(shifted_sigma / o.eps) << "× ε), "
    << strprintf("%.0f%%", 100 * mean(1, &RunStats::below_share)) << " below ε"
    << (o.no_decay_arm ? "; without decay it ended at " + g3(mean(2, &RunStats::sigma_min)) : std::string()) << ".\n";
  const bool probed = !std::isnan(mean(0, &RunStats::eff_lr_first));
  if (!probed) {
    w << "- **Effective learning rate and gradients.** No probe was taken: the runs are shorter than --probe-every "
      << o.base.probe_every << " steps (give a smaller one).\n";
  } else {
    w << "- **Effective learning rate and gradients.** Under plain L2 the median effective learning rate went from "
      << g3(mean(0, &RunStats::eff_lr_first)) << " to " << g3(mean(0, &RunStats::eff_lr_last)) << " ("
      << g3(mean(0, &RunStats::eff_lr_last) / mean(0, &RunStats::eff_lr_first)) << "×), with the ε-shift to "
      << g3(mean(1, &RunStats::eff_lr_last))
      << (o.no_decay_arm ? ", without decay it fell to " + g3(mean(2, &RunStats::eff_lr_last)) : std::string())
      << ". The largest gradient element reached " << g3(mean(0, &RunStats::grad_max)) << " under plain L2 against "
      << g3(mean(1, &RunStats::grad_max)) << " with the ε-shift; at float16's loss scale (a simulated GradScaler, starting "
      << "at 2^16) that is " << g3(mean(0, &RunStats::scaled_ratio_max)) << " and " << g3(mean(1, &RunStats::scaled_ratio_max))
      << " of float16's largest number, and " << strprintf("%.1f", mean(0, &RunStats::overflow_steps)) << " and "
      << strprintf("%.1f", mean(1, &RunStats::overflow_steps)) << " steps would have overflowed.\n";
  }
  auto spread = [&](size_t arm, double RunStats::*field) { return sample_std(each(st[arm], field)); };
  const double loss_gap = mean(0, &RunStats::train_loss) - mean(1, &RunStats::train_loss);
  w << "- **Loss and accuracy.** Final training loss " << strprintf("%.3f", mean(0, &RunStats::train_loss))
    << " with plain L2 and " << strprintf("%.3f", mean(1, &RunStats::train_loss)) << " with the ε-shift; test accuracy "
    << strprintf("%.1f%%", 100 * mean(0, &RunStats::test_acc)) << " and " << strprintf("%.1f%%", 100 * mean(1, &RunStats::test_acc))
    << ". ";
  if (o.seeds > 1) {
    const double loss_spread = std::max(spread(0, &RunStats::train_loss), spread(1, &RunStats::train_loss));
    const double acc_spread = std::max(spread(0, &RunStats::test_acc), spread(1, &RunStats::test_acc));
    w << "Over these " << o.seeds << " seeds the training loss varies by ±" << strprintf("%.3f", loss_spread)
      << " (sample std), so the ε-shift's " << strprintf("%.3f", loss_gap) << " lower loss is "
      << (loss_gap > 2 * loss_spread ? "beyond" : "within") << " twice the run-to-run spread; test accuracy varies by ±"
      << strprintf("%.1f", 100 * acc_spread) << " points (at a constant rate it swings from epoch to epoch: BatchNorm's "
      << "running statistics meet filters the last steps moved), so its "
      << strprintf("%+.1f", 100 * (mean(1, &RunStats::test_acc) - mean(0, &RunStats::test_acc))) << " points are "
      << (std::fabs(mean(1, &RunStats::test_acc) - mean(0, &RunStats::test_acc)) > 2 * acc_spread ? "beyond" : "within")
      << " twice the spread.";
  } else {
    w << "One seed: `--seeds 5` measures the run-to-run spread of this setting (" << kMeasuredSpread << ").";
  }
  if (o.no_decay_arm)
    w << " Without decay: loss " << strprintf("%.3f", mean(2, &RunStats::train_loss)) << ", accuracy "
      << strprintf("%.1f%%", 100 * mean(2, &RunStats::test_acc)) << " — in a few epochs its falling effective learning "
      << "rate anneals the run and helps; the under-fitting the paper finds without decay (claim 1) needs long runs "
      << "(`eshift experiment underfit`).";
  w << "\n";
  w << "- **In the paper's terms** (Li et al. 2019, §3): for a weight-normalized filter the loss does not depend on "
       "σ, so plain L2's radial objective has no minimum: decay shrinks σ without end, and the effective learning "
       "rate η/σ² and the gradient (∝ 1/σ) grow until float16 overflows or the step turns to noise (claims 2–4). "
       "The ε-shifted L2, ½λ[nμ² + (n−1)(σ − ε)²], gives the radial objective its minimum at σ = ε: decay still "
       "controls the effective learning rate (claim 1), but σ stops at ε.\n";
  w << "- **On your own model:** `eshift train --model M --wnorm ws --el2 --mineps " << g3(o.eps) << " --lam "
    << g3(o.lambda) << " --nowd-conv …` (the ε-shift in place of plain L2 on every conv weight), or `--mineps auto` to "
    << "choose ε from the run's own gradients; every run warns when σ collapses below --mineps.\n";
  result.sentences = w.str();

  // ---------------------------------------------------------------- figures and report.md
  auto series_of = [&](size_t a, bool share) {
    const auto& r = result.arms[a].runs.front();
    const double steps_per_epoch = r.history.empty() ? 1.0 : double(r.history.front().step);
    std::vector<double> x, y;
    for (const auto& p : r.probes) {
      x.push_back(double(p.step) / steps_per_epoch);
      y.push_back(share ? 100 * p.frac_sigma_below_eps : p.sigma_min);
    }
    static const char* colors[] = {"#d62728", "#1f77b4", "#7f7f7f"};
    return Series(result.arms[a].title, x, y, colors[a % 3]);
  };
  Figure sigma("smallest filter σ of the conv weights", "epoch", "σ (log scale)", /*log_y=*/true);
  Figure share("share of filters with σ below ε = " + g3(o.eps), "epoch", "% of the conv filters");
  for (size_t a = 0; a < result.arms.size(); ++a) {
    sigma.series.push_back(series_of(a, false));
    share.series.push_back(series_of(a, true));
  }
  sigma.references.push_back({o.eps, "ε = " + g3(o.eps)});
  std::string figures_md;
  for (const auto& [figure, name] : {std::pair<const Figure*, std::string>{&sigma, "sigma_min.png"}, {&share, "sigma_below_eps.png"}}) {
    const std::string path = dir + "/" + name;
    try {
      render_png(*figure, path);
      result.figures.push_back(path);
      figures_md += "![" + figure->title + "](" + name + ")\n\n";
    } catch (const std::exception& e) {
      std::cerr << "eshift: warning: " << e.what() << "\n";  // the runs and the table stand without the figure
    }
  }
  std::string first_dirs;  // seed 0's run directories
  for (const auto& arm : result.arms)
    first_dirs += (first_dirs.empty() ? "" : " ") + dir + "/" + arm.name + (o.seeds > 1 ? "-seed" + std::to_string(o.base.seed) : "");
  std::ostringstream md;
  md << "# eshift demo: plain L2 against the ε-shifted L2\n\n"
     << settings_line(o) << " (preset `" << o.preset << "`).\n\n"
     << result.table << "\n" << result.sentences << "\n" << figures_md
     << "The figures show seed " << o.base.seed << ". The runs are in " << dir
     << "/ (metrics.jsonl, TensorBoard, checkpoints); every probe of them is drawn by `eshift report " << first_dirs
     << " --out " << dir << "/report`.\n";
  result.report = dir + "/report.md";
  write_text_atomic(result.report, md.str());
  return result;
}

}  // namespace eshift
