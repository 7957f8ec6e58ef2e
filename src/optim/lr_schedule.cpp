#include "eshift/optim/lr_schedule.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace eshift {

double LrSchedule::lr_at(int epoch) const {
  if (epoch < warmup_epochs) return base_lr * (epoch + 1) / warmup_epochs;
  if (cosine) return base_lr * 0.5 * (1 + std::cos(M_PI * epoch / epochs));
  int k = 0;
  for (int m : milestones) k += (m >= warmup_epochs && m <= epoch);
  return base_lr * std::pow(gamma, k);
}

double LrSchedule::lr_at_step(int64_t step, int epoch) const {
  double lr = 0;
  if (iterations == 0) {
    lr = lr_at(epoch);
  } else if (cosine) {
    lr = base_lr * 0.5 * (1 + std::cos(M_PI * double(step) / double(iterations)));
  } else {
    int k = 0;
    for (int m : milestones) k += (m <= step);
    lr = base_lr * std::pow(gamma, k);
  }
  if (step < warmup_iters) lr *= warmup_factor + (1 - warmup_factor) * double(step) / double(warmup_iters);
  return lr;
}

void LrSchedule::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  check(std::isfinite(base_lr) && base_lr > 0, "--lr must be a finite value > 0");
  check(std::isfinite(gamma) && gamma > 0, "--gamma must be a finite value > 0");
  check(warmup_epochs >= 0, "--warmup must be >= 0");
  check(epochs >= 1, "--epochs must be >= 1");
  check(iterations >= 0, "--iterations must be >= 0 (0: the run counts --epochs)");
  check(warmup_iters >= 0, "--warmup-iters must be >= 0");
  check(std::isfinite(warmup_factor) && warmup_factor > 0 && warmup_factor <= 1,
        "--warmup-factor must be in (0, 1] (the warm-up's first step trains at this fraction of --lr)");
  for (int m : milestones) check(m >= 0, "--schedule milestones must be >= 0");
  if (iterations > 0) {
    check(warmup_epochs == 0, "--warmup counts epochs; a run of --iterations warms up with --warmup-iters");
    check(warmup_iters < iterations, "--warmup-iters " + std::to_string(warmup_iters) + " must be below --iterations " +
                                         std::to_string(iterations));
    for (int m : milestones)
      check(m < iterations, "--schedule milestone " + std::to_string(m) + " must be below --iterations " +
                                std::to_string(iterations) + " (a run of --iterations counts its milestones in iterations)");
  }
}

std::string LrSchedule::describe() const {
  std::ostringstream s;
  s << "lr " << base_lr;
  if (warmup_epochs) s << ", warmup " << warmup_epochs << " epochs";
  if (warmup_iters) s << ", warmup " << warmup_iters << " iterations from ×" << warmup_factor;
  const char* unit = iterations > 0 ? "iterations" : "epochs";
  if (cosine) {
    s << ", cosine over " << (iterations > 0 ? iterations : epochs) << " " << unit;
  } else if (!milestones.empty()) {
    s << ", ×" << gamma << " at " << unit;
    for (int m : milestones) s << " " << m;
  } else {
    s << ", constant";
  }
  if (iterations > 0) s << ", " << iterations << " iterations";
  return s.str();
}

}  // namespace eshift
