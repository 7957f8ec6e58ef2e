#pragma once
// Where a run's numbers go: metrics.jsonl (one JSON object per line) and a TensorBoard event file,
// side by side in the run directory.
//   {"kind":"epoch", "epoch":E, "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds",
//    "sigma_min", "sigma_mean", "step"}            — one per completed epoch
//   {"kind":"probe", "step":S, "epoch":E, ...}       — one per probe (see probes.h)
// "epoch" is 1-based (the epoch completed, or in progress for probes).
#include <memory>
#include <string>

#include "eshift/probes.h"
#include "eshift/tensorboard.h"

namespace eshift {

// Writes `text` to path + ".tmp", then renames it over `path`: readers never see a torn file.
void write_text_atomic(const std::string& path, const std::string& text);

struct EpochRecord {
  int epoch = 0;  // 1-based: the number of completed epochs
  int64_t step = 0;  // global steps done at the end of the epoch
  double lr = 0, train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0, seconds = 0;
  double sigma_min = 0, sigma_mean = 0;  // per-filter σ over all conv weights, end of epoch
  std::string to_json() const;
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
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace eshift
