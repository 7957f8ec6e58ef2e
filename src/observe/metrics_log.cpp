#include "eshift/observe/metrics_log.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "eshift/core/atomic_file.h"

namespace eshift {

std::string EpochRecord::to_json() const {
  nlohmann::json j{{"kind", "epoch"}, {"epoch", epoch},     {"step", step},          {"lr", lr},
                   {"seconds", seconds}, {"sigma_min", sigma_min}, {"sigma_mean", sigma_mean},
                   {"sigma_below_share", sigma_below_share}, {"sigma_threshold", sigma_threshold}};
  for (const auto& m : train.values()) j["train_" + m.info.key] = m.value;
  for (const auto& m : test.values()) j["test_" + m.info.key] = m.value;
  for (const auto& [name, value] : extras) j[name] = value;
  return j.dump();
}

double EpochRecord::value(const std::string& name) const {
  if (name.rfind("train_", 0) == 0) return train.at(name.substr(6));
  if (name.rfind("test_", 0) == 0) return test.at(name.substr(5));
  for (const auto& [extra, value] : extras)
    if (extra == name) return value;
  throw std::out_of_range("no metric '" + name + "'");
}

MetricsLog::MetricsLog(const std::string& dir, int resume_after_epoch) : jsonl_path_(dir + "/metrics.jsonl") {
  std::string kept;
  if (resume_after_epoch >= 0) {
    std::ifstream in(jsonl_path_);
    std::string line;
    while (std::getline(in, line)) {
      try {
        if (nlohmann::json::parse(line).at("epoch").get<int>() <= resume_after_epoch) kept += line + "\n";
      } catch (const std::exception&) {
        // a torn last line from a crash: dropped
      }
    }
  }
  write_text_atomic(jsonl_path_, kept);
  jsonl_ = std::make_unique<AppendFile>(jsonl_path_, /*truncate=*/false);
  tensorboard_ = std::make_unique<TensorBoardWriter>(dir);
}

void MetricsLog::append(const std::string& line) {
  jsonl_->append(line + "\n");
  jsonl_->sync();
}

void MetricsLog::epoch(const EpochRecord& r) {
  append(r.to_json());
  auto& tb = *tensorboard_;
  for (const auto& m : r.train.values()) tb.add_scalar("train/" + m.info.title, m.value, r.step);
  for (const auto& m : r.test.values()) tb.add_scalar("test/" + m.info.title, m.value, r.step);
  for (const auto& [name, value] : r.extras) tb.add_scalar("amp/" + name, value, r.step);
  tb.add_scalar("lr", r.lr, r.step);
  tb.add_scalar("sigma/min_all_convs", r.sigma_min, r.step);
  tb.add_scalar("sigma/mean_all_convs", r.sigma_mean, r.step);
  tb.add_scalar("sigma/share_below_threshold", r.sigma_below_share, r.step);
  tb.flush();
}

void MetricsLog::probe(const ProbeRecord& r) {
  append(r.to_json());
  auto& tb = *tensorboard_;
  tb.add_scalar("probe/sigma_min", r.sigma_min, r.step);
  tb.add_scalar("probe/effective_lr_median", r.effective_lr_median, r.step);
  tb.add_scalar("probe/angular_update_median", r.angular_update_median, r.step);
  tb.add_scalar("probe/grad_max_abs", r.grad_max_abs, r.step);
  tb.add_scalar("probe/fp16_ratio", r.fp16_ratio, r.step);
  tb.add_scalar("probe/loss_scale", r.loss_scale, r.step);
  tb.add_scalar("probe/fp16_scaled_ratio", r.fp16_scaled_ratio, r.step);
  tb.add_scalar("probe/fp16_overflow_steps", double(r.fp16_overflow_steps), r.step);
  tb.add_scalar("probe/frac_sigma_below_eps", r.frac_sigma_below_eps, r.step);
  for (const auto& l : r.layers) {
    tb.add_scalar("sigma_median/" + l.name, l.sigma.median, r.step);
    tb.add_scalar("norm_median/" + l.name, l.norm.median, r.step);
    tb.add_scalar("effective_lr/" + l.name, l.effective_lr, r.step);
    tb.add_scalar("angular_update/" + l.name, l.angular_update, r.step);
    tb.add_scalar("grad_max_abs/" + l.name, l.grad_max_abs, r.step);
  }
  tb.flush();
}

}  // namespace eshift
