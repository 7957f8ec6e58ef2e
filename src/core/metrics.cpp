#include "eshift/core/metrics.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace eshift {

void Metrics::add(const MetricInfo& info, double value) { values_.push_back({info, value}); }

double Metrics::at(const std::string& key) const {
  for (const auto& v : values_)
    if (v.info.key == key) return v.value;
  throw std::out_of_range("no metric '" + key + "'");
}

std::string Metrics::format(bool aligned) const {
  std::string out;
  char buf[64];
  for (const auto& v : values_) {
    if (v.info.percent)
      std::snprintf(buf, sizeof buf, aligned ? "%s %5.2f%%" : "%s %.2f%%", v.info.key.c_str(), 100 * v.value);
    else
      std::snprintf(buf, sizeof buf, "%s %.4f", v.info.key.c_str(), v.value);
    out += (out.empty() ? "" : " ") + std::string(buf);
  }
  return out;
}

MetricSums::MetricSums(std::vector<MetricInfo> infos) : infos_(std::move(infos)), sums_(infos_.size(), 0.0) {}

void MetricSums::add(const std::string& key, double sum) {
  for (size_t i = 0; i < infos_.size(); ++i)
    if (infos_[i].key == key) {
      sums_[i] += sum;
      return;
    }
  throw std::out_of_range("no metric '" + key + "'");
}

std::vector<double> MetricSums::totals() const {
  auto out = sums_;
  out.push_back(static_cast<double>(examples_));
  return out;
}

void MetricSums::set_totals(const std::vector<double>& totals) {
  if (totals.size() != sums_.size() + 1)
    throw std::invalid_argument("metric totals: expected " + std::to_string(sums_.size() + 1) + " values, got " +
                                std::to_string(totals.size()));
  sums_.assign(totals.begin(), totals.end() - 1);
  examples_ = static_cast<int64_t>(totals.back());
}

Metrics MetricSums::means() const {
  Metrics m;
  for (size_t i = 0; i < infos_.size(); ++i) m.add(infos_[i], examples_ > 0 ? sums_[i] / examples_ : 0.0);
  return m;
}

}  // namespace eshift
