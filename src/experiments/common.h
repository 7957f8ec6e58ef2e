#pragma once
// Helpers shared by the experiments (src/experiments/*.cpp).
#include <string>
#include <vector>

#include "eshift/experiments/experiments.h"
#include "eshift/train/config.h"
#include "eshift/train/trainer.h"

namespace eshift {

// Creates the experiment directory; refuses one that already holds a summary.md (nothing is overwritten).
std::string prepare_experiment_dir(const std::string& dir);
// Writes summary.md into dir and returns its path.
std::string write_summary(const std::string& dir, const std::string& markdown);
// Defaults of one experiment's training runs (each overridable by the options).
struct RunDefaults {
  std::string model = "resnet20";
  int64_t train_subset = 10000, test_subset = 2000, batch_size = 128;
  int epochs = 4;
  double lr = 0.1;
  int probe_every = 10;
};
// A training configuration for run `run_name` of an experiment in `dir`: the options (data, device,
// seed, overrides) over the defaults, no decay anywhere yet, constant learning rate, no augmentation
// flips so runs differ only by what the experiment sets.
TrainConfig experiment_run(const ExperimentOptions& o, const RunDefaults& d, const std::string& run_name,
                           const std::string& dir);
// Trains (classification); an interrupt (^C) of any run stops the experiment with an exception.
TrainResult train_run(const TrainConfig& config);
// A metric of the run's last epoch by its metrics.jsonl name ("train_loss", "test_acc"); 0 when no
// epoch completed.
double final_value(const TrainResult& result, const std::string& name);
// The verdict line every experiment ends its table (and so summary.md) with:
//   "Verdict: <claim> shows — yes|no (<evidence>; <N> test images per run)."
// `evidence` names the numbers the verdict was decided from, with their values; test_images is what
// each run evaluated on (TrainResult::test_images), 0 for an experiment that evaluates on none.
// `shows` must be the experiment's ExperimentResult::holds.
std::string verdict_line(bool shows, const std::string& claim, const std::string& evidence, int64_t test_images);
// printf into a std::string (for the evidence's numbers).
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "12.34 ± 0.56" of values in [0,1] as percent, or of plain values.
std::string mean_pm_std(const std::vector<double>& values, double scale = 1, int decimals = 2);
// The mean (NaN when empty) and the sample standard deviation (divide by n − 1; 0 below 2 values).
double sample_mean(const std::vector<double>& values);
double sample_std(const std::vector<double>& values);

}  // namespace eshift
