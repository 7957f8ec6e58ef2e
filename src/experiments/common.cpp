#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "eshift/experiments/common.h"

#include "eshift/core/atomic_file.h"
#include "eshift/tasks/classification.h"

namespace eshift {

namespace fs = std::filesystem;

const std::vector<std::string>& experiment_names() {
  static const std::vector<std::string> names = {"equivalence", "underfit", "collapse", "seeds", "equilibrium",
                                                 "optimizers", "mineps"};
  return names;
}

ExperimentResult run_experiment(const std::string& name, const ExperimentOptions& o) {
  if (name == "equivalence") return run_equivalence(o);
  if (name == "underfit") return run_underfit(o);
  if (name == "collapse") return run_collapse(o);
  if (name == "seeds") return run_seeds(o);
  if (name == "equilibrium") return run_equilibrium(o);
  if (name == "optimizers") return run_optimizers(o);
  if (name == "mineps") return run_mineps(o);
  throw std::invalid_argument("unknown experiment '" + name +
                              "' (equivalence, underfit, collapse, seeds, equilibrium, optimizers or mineps)");
}

std::string prepare_experiment_dir(const std::string& dir) {
  if (dir.empty()) throw std::invalid_argument("an experiment needs an output directory (--out)");
  if (fs::exists(dir + "/summary.md"))
    throw std::invalid_argument(dir + " already holds an experiment (summary.md): choose another --out");
  fs::create_directories(dir);
  return dir;
}

std::string write_summary(const std::string& dir, const std::string& markdown) {
  const std::string path = dir + "/summary.md";
  write_text_atomic(path, markdown);
  return path;
}

TrainConfig experiment_run(const ExperimentOptions& o, const RunDefaults& d, const std::string& run_name,
                           const std::string& dir) {
  TrainConfig c;
  c.model.name = o.model.value_or(d.model);
  c.data = o.data;
  c.data_dir = o.data_dir;
  c.train_subset = o.train_subset.value_or(d.train_subset);
  c.test_subset = o.test_subset.value_or(d.test_subset);
  c.batch_size = o.batch_size.value_or(d.batch_size);
  c.epochs = o.epochs.value_or(d.epochs);
  c.schedule.base_lr = o.lr.value_or(d.lr);
  c.decay.wd = 0;
  c.decay.lam = 0;
  c.seed = o.seed;
  c.device = o.device;
  c.amp = o.amp;
  c.probe_every = d.probe_every;
  c.out_dir = dir + "/" + run_name;
  c.label = run_name;
  return c;
}

TrainResult train_run(const TrainConfig& config) {
  auto result = train(config, classification_task());
  if (result.interrupted) throw Interrupted(config.label + ": " + result.stop_message);
  return result;
}

double final_value(const TrainResult& result, const std::string& name) {
  return result.history.empty() ? 0.0 : result.history.back().value(name);
}

std::string verdict_line(bool shows, const std::string& claim, const std::string& evidence, int64_t test_images) {
  const std::string images = test_images > 0 ? std::to_string(test_images) + " test images per run"
                                             : "no test images: training batches only";
  return "Verdict: " + claim + " shows — " + (shows ? "yes" : "no") + " (" + evidence + "; " + images + ").\n";
}

std::string strprintf(const char* format, ...) {
  va_list args, copy;
  va_start(args, format);
  va_copy(copy, args);
  std::string out(std::vsnprintf(nullptr, 0, format, copy), '\0');
  va_end(copy);
  std::vsnprintf(out.data(), out.size() + 1, format, args);
  va_end(args);
  return out;
}

double sample_mean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double m = 0;
  for (double x : v) m += x;
  return m / v.size();
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = sample_mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / (v.size() - 1));
}

std::string mean_pm_std(const std::vector<double>& v, double scale, int decimals) {
  if (v.empty()) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, scale * sample_mean(v), decimals, scale * sample_std(v));
  return buf;
}

}  // namespace eshift
