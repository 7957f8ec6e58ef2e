#pragma once
// Where a run's numbers go: metrics.jsonl (one JSON object per line) and a TensorBoard event file,
// side by side in the run directory.
//   {"kind":"epoch", "epoch":E, "lr", "train_<metric>", "test_<metric>", "seconds",
//    "sigma_min", "sigma_mean", "sigma_below_share", "sigma_threshold", "step"}
//                                                   — one per completed epoch; the metrics are the
//                                                     task's (classification: loss, acc)
//   {"kind":"probe", "step":S, "epoch":E, ...}       — one per probe (probe_record.h)
// "epoch" is 1-based (the epoch completed, or in progress for probes).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/observe/probe_record.h"
#include "eshift/observe/tensorboard.h"

namespace eshift {

struct EpochRecord {
  int epoch = 0;  // 1-based: the number of completed epochs
  int64_t step = 0;  // global steps done at the end of the epoch
  double lr = 0, seconds = 0;
  Metrics train, test;  // the task's metrics, means over the epoch's training batches and the test set
  std::vector<std::pair<std::string, double>> extras;  // the execution policy's (e.g. loss_scale, skipped_steps)
  double sigma_min = 0, sigma_mean = 0;  // per-filter σ over all conv weights, end of epoch
  // the share of the normalized filters whose σ is below sigma_threshold (collapse_watch.h), end of epoch
  double sigma_below_share = 0, sigma_threshold = 0;
  std::string to_json() const;
  // A value by its metrics.jsonl name: "train_loss", "test_acc", "loss_scale", … (throws
  // std::out_of_range if absent).
  double value(const std::string& name) const;
};

class MetricsLog {
 public:
  // Starts a new metrics.jsonl in `dir`, or, with resume_after_epoch >= 0, keeps the lines of
  // epochs <= resume_after_epoch and drops the rest (they belong to the lost part of the run).
  MetricsLog(const std::string& dir, int resume_after_epoch = -1);
  void epoch(const EpochRecord& record);
  void probe(const ProbeRecord& record);

 private:
  void append(const std::string& line);
  std::string jsonl_path_;
  std::unique_ptr<AppendFile> jsonl_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace eshift
