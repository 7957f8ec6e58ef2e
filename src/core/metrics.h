#pragma once
// Named metrics, as a task defines them (loss and top-1 accuracy for classification; top-5 or a
// detection AP later), and their running sums over the examples of an epoch. The trainer, the
// progress bar and the metrics log handle them by name and never know what they measure.
#include <cstdint>
#include <string>
#include <vector>

namespace eshift {

struct MetricInfo {
  std::string key;        // metrics.jsonl: "train_<key>", "test_<key>"; printed label: "<key>"
  std::string title;      // TensorBoard tag: "train/<title>", "test/<title>"
  bool percent = false;   // a fraction in [0, 1], printed as a percentage
};

struct MetricValue {
  MetricInfo info;
  double value = 0;
};

// Metric values in the order their task declares them.
class Metrics {
 public:
  void add(const MetricInfo& info, double value);
  // The value of `key`; throws std::out_of_range naming it when absent.
  double at(const std::string& key) const;
  const std::vector<MetricValue>& values() const { return values_; }
  bool empty() const { return values_.empty(); }
  // "loss 0.2821 acc 89.62%": plain values with 4 decimals, percentages with 2. `aligned` pads
  // percentages to a fixed width ("acc  9.50%"), for lines redrawn in place.
  std::string format(bool aligned = false) const;

 private:
  std::vector<MetricValue> values_;
};

// Per-metric sums over examples (e.g. Σ loss_i, Σ correct_i) and the example count: their
// quotients are the epoch's means.
class MetricSums {
 public:
  explicit MetricSums(std::vector<MetricInfo> infos);
  // Adds a batch's sum of metric `key` (one of the infos).
  void add(const std::string& key, double sum);
  // Adds the batch's example count.
  void count(int64_t examples) { examples_ += examples; }
  int64_t examples() const { return examples_; }
  // Sum / examples per metric (0 for no examples).
  Metrics means() const;
  // The sums then the example count, as one vector (to add up across processes), and back.
  std::vector<double> totals() const;
  void set_totals(const std::vector<double>& totals);

 private:
  std::vector<MetricInfo> infos_;
  std::vector<double> sums_;
  int64_t examples_ = 0;
};

}  // namespace eshift
