#include "eshift/observe/run_observer.h"

#include <iostream>

namespace eshift {

void ConsoleObserver::message(const std::string& text) {
  if (bar_) return bar_->note(text);
  std::cout << text << "\n" << std::flush;
}

void ConsoleObserver::warning(const std::string& text) {
  if (bar_) return bar_->note("warning: " + text);
  std::cout << std::flush;
  std::cerr << "eshift: warning: " << text << "\n";
}

void ConsoleObserver::epoch_started(const std::string& label, int64_t steps) {
  bar_ = std::make_unique<ProgressBar>(label, steps);
}

void ConsoleObserver::step(int64_t step, const Metrics& running, int64_t images) {
  if (bar_) bar_->update(step, running, images);
}

void ConsoleObserver::epoch_ended(const std::string& summary) {
  if (bar_) bar_->finish(summary);
  else std::cout << summary << "\n" << std::flush;
  bar_.reset();
}

}  // namespace eshift
