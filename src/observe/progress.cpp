#include "eshift/observe/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace eshift {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                  (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, FILE* out, int tty)
    : label_(std::move(label)), total_(std::max<int64_t>(total_steps, 1)), out_(out),
      tty_(tty < 0 ? isatty(fileno(out)) : tty != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

std::string ProgressBar::line(int64_t step, const Metrics& running, double img_per_s, double eta_s) const {
  char buf[256];
  std::string bar;
  if (tty_) {
    const int width = 20;
    const int filled = static_cast<int>(width * step / total_);
    bar = "[" + std::string(filled, '=') + (filled < width ? ">" : "") +
          std::string(std::max(0, width - filled - 1), ' ') + "] ";
  }
  std::snprintf(buf, sizeof buf, "%s %5lld/%lld %s%s %6.0f img/s ETA %s", label_.c_str(), (long long)step,
                (long long)total_, bar.c_str(), running.format(/*aligned=*/true).c_str(), img_per_s,
                format_duration(eta_s).c_str());
  return buf;
}

void ProgressBar::update(int64_t step, const Metrics& running, int64_t images) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? images / elapsed : 0;
  const double eta = step > 0 ? elapsed / step * (total_ - step) : NAN;
  if (tty_) {
    if (step < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    std::fputs(("\r\033[K" + line(step, running, rate, eta)).c_str(), out_);
    std::fflush(out_);
  } else {
    const int64_t every = std::max<int64_t>(total_ / 10, 1);
    if (step % every != 0 && step != total_) return;
    if (step == last_printed_) return;
    last_printed_ = step;
    std::fputs((line(step, running, rate, eta) + "\n").c_str(), out_);
    std::fflush(out_);
  }
}

void ProgressBar::note(const std::string& text) {
  if (tty_) std::fputs("\r\033[K", out_);
  std::fputs((label_ + ": " + text + "\n").c_str(), out_);
  std::fflush(out_);
  last_draw_ = {};
}

void ProgressBar::finish(const std::string& summary) {
  if (tty_) std::fputs("\r\033[K", out_);
  std::fputs((summary + "\n").c_str(), out_);
  std::fflush(out_);
}

}  // namespace eshift
