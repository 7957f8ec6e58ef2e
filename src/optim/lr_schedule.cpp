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

void LrSchedule::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  check(std::isfinite(base_lr) && base_lr > 0, "--lr must be a finite value > 0");
  check(std::isfinite(gamma) && gamma > 0, "--gamma must be a finite value > 0");
  check(warmup_epochs >= 0, "--warmup must be >= 0");
  check(epochs >= 1, "--epochs must be >= 1");
  for (int m : milestones) check(m >= 0, "--schedule milestones must be >= 0");
}

std::string LrSchedule::describe() const {
  std::ostringstream s;
  s << "lr " << base_lr;
  if (warmup_epochs) s << ", warmup " << warmup_epochs << " epochs";
  if (cosine) {
    s << ", cosine over " << epochs << " epochs";
  } else if (!milestones.empty()) {
    s << ", ×" << gamma << " at epochs";
    for (int m : milestones) s << " " << m;
  } else {
    s << ", constant";
  }
  return s.str();
}

}  // namespace eshift
