#include "eshift/train/loss_watch.h"

#include <cstdio>
#include <stdexcept>

namespace eshift {

LossWatch::LossWatch(int window, double factor) : window_(window), factor_(factor) {
  if (window < 1 || !(factor > 1)) throw std::invalid_argument("LossWatch: window >= 1 and factor > 1");
}

std::optional<std::string> LossWatch::add(double loss) {
  recent_.push_back(loss);
  sum_ += loss;
  if (static_cast<int>(recent_.size()) > window_) {
    sum_ -= recent_.front();
    recent_.pop_front();
  }
  if (static_cast<int>(recent_.size()) < window_) return std::nullopt;
  const double mean = sum_ / window_;
  if (lowest_mean_ < 0 || mean < lowest_mean_) lowest_mean_ = mean;
  if (mean > factor_ * lowest_mean_ && lowest_mean_ > 0) {
    if (++above_ >= window_ && !warned_) {
      warned_ = true;
      char text[200];
      std::snprintf(text, sizeof text,
                    "the training loss is growing: its mean over the last %d steps is %.3g, %.0f× its lowest (%.3g)",
                    window_, mean, mean / lowest_mean_, lowest_mean_);
      return std::string(text);
    }
  } else {
    above_ = 0;
    warned_ = false;
  }
  return std::nullopt;
}

}  // namespace eshift
