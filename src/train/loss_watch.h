#pragma once
// Warns about a run blowing up before its loss turns non-finite: the mean training loss over the
// last `window` steps has grown `factor`-fold (default 100: two orders of magnitude) above the
// lowest such mean the run has seen, for a whole window.
#include <deque>
#include <optional>
#include <string>

namespace eshift {

class LossWatch {
 public:
  explicit LossWatch(int window = 50, double factor = 100);

  // Adds a step's (finite) loss; returns a warning the first time the growth is seen, and again
  // only after the mean has come back below the threshold.
  std::optional<std::string> add(double loss);

 private:
  int window_;
  double factor_;
  std::deque<double> recent_;
  double sum_ = 0;
  double lowest_mean_ = -1;  // < 0: no full window yet
  int above_ = 0;            // consecutive steps with the mean above factor × lowest
  bool warned_ = false;
};

}  // namespace eshift
