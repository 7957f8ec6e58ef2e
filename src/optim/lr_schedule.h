#pragma once
// Learning-rate schedules. Epoch-wise, with the reference trainer's semantics (adjust_learning_rate):
//   epoch < warmup:  η·(epoch + 1)/warmup
//   cosine:          η·½(1 + cos(π·epoch/epochs))
//   step:            η·γ^k, k = number of milestones m with warmup <= m <= epoch
// Iteration-wise (iterations > 0: the detection recipes' counting), s the 0-based step of the run:
//   cosine:          η·½(1 + cos(π·s/iterations))
//   step:            η·γ^k, k = number of milestones m <= s (milestones in iterations; detectron2's
//                    and maskrcnn-benchmark's WarmupMultiStepLR: the step at s = m already decays)
// Either way a per-step linear warm-up multiplies the rate while s < warmup_iters:
//   f + (1 − f)·s/warmup_iters, f = warmup_factor   (s = 0 trains at f·η; torchvision's detection
//   reference: f = 1/1000; maskrcnn-benchmark's 1× schedule: f = 1/3 over 500 iterations)
#include <cstdint>
#include <string>
#include <vector>

namespace eshift {

struct LrSchedule {
  double base_lr = 0.1;
  std::vector<int> milestones;  // --schedule E1 E2 … (epochs; iterations when iterations > 0)
  double gamma = 0.1;           // --gamma
  bool cosine = false;          // --cos
  int warmup_epochs = 0;        // --warmup
  int epochs = 1;               // total, for cosine
  int64_t iterations = 0;       // --iterations: the run's length in steps (0: epoch-wise)
  int64_t warmup_iters = 0;     // --warmup-iters
  double warmup_factor = 0.001; // --warmup-factor

  // The rate of epoch `epoch` (from 0) before any per-step warm-up; epoch-wise schedules only.
  double lr_at(int epoch) const;
  // The rate of step `step` (0-based, counted over the whole run) in epoch `epoch`.
  double lr_at_step(int64_t step, int epoch) const;
  // Whether the rate changes within an epoch (iteration-wise, or a per-step warm-up).
  bool per_step() const { return iterations > 0 || warmup_iters > 0; }
  void validate() const;          // throws std::invalid_argument naming the flag
  std::string describe() const;
};

}  // namespace eshift
