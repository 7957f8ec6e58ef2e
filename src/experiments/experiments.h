#pragma once
// `eshift experiment NAME`: runs that make the paper's claims (paper.md §2) visible and checkable.
// Each writes a directory with its data (runs with metrics.jsonl, CSV files), figures (PNG, drawn
// by gnuplot) and summary.md, and returns the table it prints.
//
//   equivalence  claim 1, exactly: coupled L2 λ at rate η  ≡  no decay at η_t = η(1−ηλ)^−(2t+1)
//   underfit     claim 1: without decay ‖W‖ grows, the effective learning rate decays, training under-fits
//   collapse     claims 2–4: strong decay with plain L2 vs ε-shifted L2: σ, gradient scale, float16 overflow
//   seeds        plain L2 vs ε-shifted L2 vs no decay over K seeds: accuracy mean ± std
//   equilibrium  steady-state angular update vs √(2ηλ/(1+α)), plain L2 and ε-shifted
//   optimizers   beyond the paper: SGD, AdamW, SGDP × no decay / plain L2 / ε-shifted L2, and an ε sweep
//   mineps       beyond the paper: --mineps auto against a sweep of fixed ε on the collapse setting
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eshift/data/dataset.h"
#include "eshift/data/registry.h"
#include "eshift/models/model_spec.h"

namespace eshift {

// Flags common to the experiments; an unset value takes the experiment's own default (see --help).
struct ExperimentOptions {
  std::string out_dir;
  std::string data = kDefaultDataset;  // dataset name (data/registry.h)
  std::string data_dir;                // empty: the dataset's default directory
  std::optional<std::string> model;
  std::optional<int64_t> train_subset, test_subset, batch_size;
  std::optional<int> epochs, steps;
  std::optional<double> lr, lambda, eps;
  int seeds = 3;
  uint64_t seed = 0;
  std::string device = "cpu";
  std::string amp = "off";   // mixed precision of the training runs (collapse: fp16 counts overflowed steps)
};

struct ExperimentResult {
  std::string table;    // printed at the end
  std::string summary;  // path of summary.md
  bool holds = true;    // whether the measured claim held (equivalence: rounding-level match)
};

const std::vector<std::string>& experiment_names();
// Runs experiment `name` (throws std::invalid_argument for an unknown name).
ExperimentResult run_experiment(const std::string& name, const ExperimentOptions& options);

ExperimentResult run_equivalence(const ExperimentOptions& options);
ExperimentResult run_underfit(const ExperimentOptions& options);
ExperimentResult run_collapse(const ExperimentOptions& options);
ExperimentResult run_seeds(const ExperimentOptions& options);
ExperimentResult run_equilibrium(const ExperimentOptions& options);
ExperimentResult run_optimizers(const ExperimentOptions& options);
ExperimentResult run_mineps(const ExperimentOptions& options);

// ------------------------------------------------------------------ the equivalence, as a function
struct EquivalenceConfig {
  ModelSpec model;        // scale-invariant weights: WS with δ = 0 (default) or WN
  int steps = 300;
  int64_t batch_size = 32;
  double lr = 0.1, lambda = 0.01;
  int step_offset = 0;    // uses t + step_offset in the rate schedule (≠ 0 is a deliberate error)
  uint64_t seed = 0;
};

struct EquivalenceTrace {
  std::vector<double> logit_rel_diff;     // per step: max|z_a − z_b| / max|z_a| on the step's batch
  std::vector<double> direction_diff;     // per step, after the update: max over filters |ŵ_a − ŵ_b|
  std::vector<double> norm_ratio;         // ‖V_t‖/‖W_t‖ over all scale-invariant weights
  std::vector<double> predicted_ratio;    // (1 − ηλ)^−t
  std::vector<double> loss_a;             // training loss of run (a)
  double max_logit_rel_diff() const;
  double max_direction_diff() const;
  double max_ratio_rel_error() const;
};

// Trains (a) coupled L2 on the scale-invariant weights at rate η and (b) no decay on them at
// η_t = η(1−ηλ)^−(2t+1), from the same initialization on the same batches, in float64, plain SGD;
// every other parameter: no decay, rate η, in both.
EquivalenceTrace trace_equivalence(std::shared_ptr<const Dataset> data, const EquivalenceConfig& config);

}  // namespace eshift
