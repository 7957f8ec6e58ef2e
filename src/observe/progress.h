#pragma once
// Training progress: a one-line bar redrawn in place on a terminal
// ("train 3/10   120/468 [=====>    ] loss 0.4120 acc 85.10%    912 img/s ETA 0:23"),
// and plain lines (about every 10% of an epoch) when the output is not a terminal.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "eshift/core/metrics.h"

namespace eshift {

class ProgressBar {
 public:
  // `out` is written with fputs; `tty` forces the mode (default: isatty(out)).
  ProgressBar(std::string label, int64_t total_steps, FILE* out = stdout, int tty = -1);
  // Call after each step with the running means of the task's metrics and the images processed so
  // far this epoch.
  void update(int64_t step, const Metrics& running, int64_t images);
  // A line of its own above the bar (a warning, a skipped step); the bar is redrawn on the next update.
  void note(const std::string& text);
  // Ends the line (terminal) and prints a final summary line.
  void finish(const std::string& summary);

 private:
  std::string line(int64_t step, const Metrics& running, double img_per_s, double eta_s) const;
  std::string label_;
  int64_t total_;
  FILE* out_;
  bool tty_;
  int64_t last_printed_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1:02:03" or "2:03"

}  // namespace eshift
