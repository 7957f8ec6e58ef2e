#include "eshift/observe/collapse_watch.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace eshift {

namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}
std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * share);
  return buf;
}
}  // namespace

CollapseWatch::CollapseWatch(double threshold, double share, bool el2) : threshold_(threshold), share_(share), el2_(el2) {
  if (!(threshold > 0)) throw std::invalid_argument("--collapse-sigma must be > 0, got " + number(threshold));
  if (!(share >= 0 && share <= 1)) throw std::invalid_argument("--collapse-share must be in [0, 1], got " + number(share));
}

std::string CollapseWatch::layers_below(const SigmaCensus& census) const {
  std::vector<SigmaCensus::Layer> hit;
  for (const auto& l : census.layers)
    if (l.below > 0) hit.push_back(l);
  std::stable_sort(hit.begin(), hit.end(), [](const auto& a, const auto& b) {
    return double(a.below) / double(a.filters) > double(b.below) / double(b.filters);
  });
  std::string out;
  for (size_t i = 0; i < hit.size() && i < 3; ++i)
    out += (i ? ", " : "") + hit[i].name + " " + std::to_string(hit[i].below) + "/" + std::to_string(hit[i].filters);
  if (hit.size() > 3) out += " and " + std::to_string(hit.size() - 3) + " more layers";
  return out.empty() ? "none yet" : out;
}

std::optional<std::string> CollapseWatch::check(const SigmaCensus& census, int64_t step, int epoch, bool at_epoch_end) {
  if (share_ <= 0 || census.filters == 0) return std::nullopt;
  const std::string advice = el2_ ? "the ε-shift holds σ at ε only where ε is above it: a larger --mineps (now " + number(threshold_) + ")"
                                  : "the ε-shifted L2 holds σ at ε: --el2 --mineps " + number(threshold_);
  const std::string where = "epoch " + std::to_string(epoch) + ", step " + std::to_string(step);
  std::optional<std::string> out;
  const double share = census.share();
  if (share >= share_ && share >= 2 * warned_share_) {
    out = "σ collapse (" + where + "): " + percent(share) + " of the normalized filters (" + std::to_string(census.below) +
          " of " + std::to_string(census.filters) + ") have σ below " + number(threshold_) + ", smallest " +
          number(census.sigma_min) + " (" + layers_below(census) + "); their effective learning rate grows as 1/σ² and "
          "their gradients as 1/σ; " + advice;
    warned_share_ = share;
  }
  if (at_epoch_end) {
    const double reference = warned_sigma_ > 0 ? warned_sigma_ : previous_epoch_sigma_;
    if (!out && reference > 0 && census.sigma_min <= 0.5 * reference && census.sigma_min < threshold_) {
      out = "σ collapse under way (" + where + "): the smallest filter σ fell from " + number(reference) + " to " +
            number(census.sigma_min) + " in an epoch, below " + number(threshold_) + " (" + layers_below(census) + "); " + advice;
      warned_sigma_ = census.sigma_min;
    }
    previous_epoch_sigma_ = census.sigma_min;
  }
  return out;
}

}  // namespace eshift
