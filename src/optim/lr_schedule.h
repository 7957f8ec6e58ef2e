#pragma once
// Epoch-wise learning-rate schedules with the reference trainer's semantics (adjust_learning_rate):
//   epoch < warmup:  η·(epoch + 1)/warmup
//   cosine:          η·½(1 + cos(π·epoch/epochs))
//   step:            η·γ^k, k = number of milestones m with warmup <= m <= epoch
#include <string>
#include <vector>

namespace eshift {

struct LrSchedule {
  double base_lr = 0.1;
  std::vector<int> milestones;  // --schedule E1 E2 …
  double gamma = 0.1;           // --gamma
  bool cosine = false;          // --cos
  int warmup_epochs = 0;        // --warmup
  int epochs = 1;               // total, for cosine

  double lr_at(int epoch) const;  // epoch counts from 0
  void validate() const;          // throws std::invalid_argument
  std::string describe() const;
};

}  // namespace eshift
