#pragma once
// Would a float16 run overflow here? A simulated dynamic loss scale, driven by a float32 run.
//
// Mixed-precision training multiplies the loss by a scale s before backward, so what must fit
// float16 is the gradient times s, not the gradient. torch.cuda.amp.GradScaler's defaults
// (torch/cuda/amp/grad_scaler.py: init_scale 2^16, growth_factor 2, backoff_factor ½,
// growth_interval 2000) and its update (ATen's _amp_update_scale_):
//   a step overflows when  max|g| · s ≥ 65504  (g: the unscaled gradients, s: the scale held)
//     → the step would be skipped: s ← s · ½, the growth counter restarts at 0
//   otherwise the counter counts the clean step; at 2000 clean steps in a row s ← s · 2, counter 0.
// A non-finite max|g| overflows at any scale.
//
// What it sees: the parameter gradients only (one amax per tensor, every step). In a real float16
// run the activation gradients pass through float16 too and can overflow where these do not, so
// the count is a lower bound on the steps a float16 run would skip. No LibTorch.
#include <cstdint>

#include "eshift/observe/probe_record.h"

namespace eshift {

class SimulatedLossScale {
 public:
  static constexpr double kInitScale = 65536.0, kGrowthFactor = 2.0, kBackoffFactor = 0.5;
  static constexpr int64_t kGrowthInterval = 2000;

  // One training step whose unscaled gradients' largest element is grad_max_abs: returns whether it
  // would overflow at the scale held, then updates the scale as GradScaler does.
  bool step(double grad_max_abs);

  double scale() const { return scale_; }                 // the scale the next step will hold
  int64_t growth_tracker() const { return tracker_; }     // clean steps since the scale last changed
  int64_t steps() const { return steps_; }
  int64_t overflow_steps() const { return overflows_; }   // steps that would overflow, so far
  double held_scale() const { return held_scale_; }       // the scale the last step held
  // max|g| · held scale / 65504 of the last step: ≥ 1 means it would overflow.
  double scaled_ratio() const { return scaled_ratio_; }

  // Fills the probe's loss-scale fields for the step just taken (its per-layer fp16_scaled_ratio
  // from each layer's max|g|); call after step() of the probed step.
  void annotate(ProbeRecord& record) const;

 private:
  double scale_ = kInitScale, held_scale_ = kInitScale, scaled_ratio_ = 0;
  int64_t tracker_ = 0, steps_ = 0, overflows_ = 0;
};

}  // namespace eshift
