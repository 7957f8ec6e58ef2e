#include "eshift/observe/simulated_loss_scale.h"

#include <cmath>

namespace eshift {

bool SimulatedLossScale::step(double grad_max_abs) {
  ++steps_;
  held_scale_ = scale_;
  scaled_ratio_ = grad_max_abs * scale_ / kFloat16Max;
  const bool overflow = !std::isfinite(scaled_ratio_) || scaled_ratio_ >= 1;  // NaN too
  if (overflow) {  // GradScaler skips the step and backs off
    ++overflows_;
    scale_ *= kBackoffFactor;
    tracker_ = 0;
  } else if (++tracker_ == kGrowthInterval) {
    scale_ *= kGrowthFactor;
    tracker_ = 0;
  }
  return overflow;
}

void SimulatedLossScale::annotate(ProbeRecord& record) const {
  record.loss_scale = held_scale_;
  record.fp16_scaled_ratio = scaled_ratio_;
  record.fp16_overflow_steps = overflows_;
  for (auto& l : record.layers) l.fp16_scaled_ratio = l.grad_max_abs * held_scale_ / kFloat16Max;
}

}  // namespace eshift
