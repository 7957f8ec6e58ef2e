#pragma once
// The σ-collapse warning of every training run (paper.md §2–3): under plain L2, the filters of a
// scale-invariant weight shrink without limit; their σ falls, their effective learning rate
// (∝ 1/σ²) and their gradients (∝ 1/σ) grow, until float16 overflows or the run turns to noise. The
// ε-shifted L2 holds σ at ε. The watch is told, at each check (every probe and every epoch end), the
// census of the filters' σ against a threshold (the ε the run uses or would use: --mineps), and
// answers with a warning line when one is due:
//   share   the share of filters below the threshold reached `share` (default 5 %): once, then
//           again each time the share doubles since the last warning;
//   speed   the smallest σ is below the threshold and fell to half or less of its value one epoch
//           earlier (compared at epoch ends): collapse is under way before many filters are below;
//           once, then again at each further halving.
// Each line names the layers with filters below the threshold (the most affected first) and the
// flags that hold σ: --el2 --mineps ε. No LibTorch.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eshift {

// The σ of every per-filter scale-invariant weight's filters against a threshold.
struct SigmaCensus {
  struct Layer {
    std::string name;
    int64_t filters = 0, below = 0;
  };
  std::vector<Layer> layers;
  int64_t filters = 0, below = 0;
  double sigma_min = 0;
  double share() const { return filters > 0 ? double(below) / double(filters) : 0.0; }
};

class CollapseWatch {
 public:
  // threshold: σ below it counts as collapsed; share: the share that warns (0 turns the watch off);
  // el2: whether the run already uses the ε-shift (the advice then is a larger ε).
  CollapseWatch(double threshold, double share, bool el2);

  // A census taken at global step `step`, `epoch` (1-based, the epoch in progress or just ended);
  // at_epoch_end: the census of an epoch's end (the speed rule compares those). The warning line,
  // when one is due.
  std::optional<std::string> check(const SigmaCensus& census, int64_t step, int epoch, bool at_epoch_end);

  double threshold() const { return threshold_; }
  void set_threshold(double threshold) { threshold_ = threshold; }  // --mineps auto, once chosen

 private:
  std::string layers_below(const SigmaCensus& census) const;
  double threshold_, share_;
  bool el2_;
  double warned_share_ = 0;                  // the share at the last share warning (0: none yet)
  double previous_epoch_sigma_ = 0;          // σ_min at the end of the previous epoch (0: none yet)
  double warned_sigma_ = 0;                  // σ_min at the last speed warning (0: none yet)
};

}  // namespace eshift
