#pragma once
// `eshift demo` (make demo): the paper's point on one screen. The same model, data and seed trained
// with plain L2 on the conv weights, with the ε-shifted L2 in its place, and (the default) with no
// decay on them, then a table, a few sentences computed from the runs, report.md and two figures.
//
// The default setting ("collapse") is chosen so that the phenomenon shows in every seed checked:
// WS-ResNet-8 + BN on 8000 Fashion-MNIST images, 4 epochs at a constant rate 0.1 (momentum 0.9,
// batch 64), decay λ = 0.05 on the conv weights only, ε = 0.02, no augmentation, probes every 10
// steps, 3 seeds (so that the table's spread is the run's own). Plain L2 drives the filters' σ far below ε (more than half of them end below it) and their
// effective learning rate up; the ε-shift holds σ at ε; without decay σ grows and the effective
// learning rate falls (claim 1). The "classic" preset is the demo before it: 20 000 images, 5
// epochs, cosine, λ = 5e-4 on every weight, ε = 1e-3 (the two arms then barely differ: σ never
// comes near ε).
#include <string>
#include <vector>

#include "eshift/train/trainer.h"

namespace eshift {

struct DemoOptions {
  TrainConfig base;           // model, data, schedule, seed, …: everything but the decay
  double lambda = 0.05;       // λ of the conv weights' decay, plain or ε-shifted
  double eps = 0.02;          // ε
  double others_wd = 0;       // plain L2 on BN γ and the classifier in every arm (classic: λ)
  bool no_decay_arm = true;   // the third arm: no decay on the conv weights
  int seeds = 3;              // runs per arm (seeds base.seed, +1, …): > 1 measures the run-to-run spread
  std::string out_dir = "demo";
  std::string preset = "collapse";  // what the setting is called in the report
};

// Sets `config` (and lambda, eps, others_wd) to a preset: "collapse" (the default) or "classic".
// Throws std::invalid_argument for another name.
void apply_demo_preset(const std::string& preset, DemoOptions& options);

struct DemoArm {
  std::string name;   // directory name: plain_l2, eps_l2, no_decay
  std::string title;  // "plain L2", "ε-shifted L2", "no decay"
  std::vector<TrainResult> runs;  // one per seed
};

struct DemoResult {
  std::vector<DemoArm> arms;
  std::string table;      // Markdown
  std::string sentences;  // what differed and what it means, computed from the runs
  std::string report;     // path of report.md
  std::vector<std::string> figures;
};

// Trains the arms into options.out_dir/<arm>[-seed<S>] and writes report.md and the figures there.
// A previous demo in out_dir (its report.md and arm directories) is replaced; any other non-empty
// out_dir is refused.
DemoResult run_demo(const DemoOptions& options);

}  // namespace eshift
