#pragma once
// What a training run reports as it goes: its header and notes, warnings, each step's running
// metrics and each epoch's end. The trainer reports only through a RunObserver, so a program that
// embeds it (a notebook, a Python script, another tool) decides what is shown and where;
// ConsoleObserver is the CLI's: a progress bar on stdout (progress.h), notes above it, warnings on
// stderr between epochs.
#include <cstdint>
#include <memory>
#include <string>

#include "eshift/core/metrics.h"
#include "eshift/observe/progress.h"

namespace eshift {

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // A line (or lines) for the user: the run's header, a resume, a choice the run made, a skipped step.
  virtual void message(const std::string& text) {}
  // Something the user should look at (a skipped image, a σ collapse, a loss spike); no prefix.
  virtual void warning(const std::string& text) {}
  // An epoch of `steps` steps starts; `label` names it ("train 3/10").
  virtual void epoch_started(const std::string& label, int64_t steps) {}
  // After each step: the running means of the task's metrics and the images processed this epoch.
  virtual void step(int64_t step, const Metrics& running, int64_t images) {}
  // The epoch's summary line, or why the run stopped in it.
  virtual void epoch_ended(const std::string& summary) {}
};

class ConsoleObserver : public RunObserver {
 public:
  void message(const std::string& text) override;  // stdout (above the bar during an epoch)
  // "warning: …" above the bar during an epoch; "eshift: warning: …" on stderr between epochs
  void warning(const std::string& text) override;
  void epoch_started(const std::string& label, int64_t steps) override;
  void step(int64_t step, const Metrics& running, int64_t images) override;
  void epoch_ended(const std::string& summary) override;

 private:
  std::unique_ptr<ProgressBar> bar_;  // the epoch in progress
};

}  // namespace eshift
