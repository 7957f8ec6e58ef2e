#include "eshift/train/run_checkpoints.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "eshift/core/atomic_file.h"
#include "eshift/core/errors.h"
#include "eshift/train/checkpoint.h"

namespace fs = std::filesystem;

namespace eshift {

RunCheckpoints::RunCheckpoints(std::string dir, int keep) : dir_(std::move(dir)), keep_(keep) {
  if (keep_ < 1) throw std::invalid_argument("--keep-checkpoints must be >= 1");
}

std::string RunCheckpoints::of_epoch(int64_t epoch) const {
  return dir_ + "/checkpoint-epoch" + std::to_string(epoch) + ".pt";
}

void RunCheckpoints::save(int64_t epoch, const std::function<void(const std::string& path)>& write) const {
  const std::string path = of_epoch(epoch);
  write(path);
  link_atomic(path, latest());
  bool removed = false;
  for (const auto& [e, file] : epochs()) {
    if (e > epoch || e <= epoch - keep_) {
      std::error_code ec;
      fs::remove(file, ec);
      removed = true;
    }
  }
  if (removed) sync_directory(dir_);
}

void RunCheckpoints::restart_from(const std::string& file, int64_t epoch) const {
  struct stat a {}, b {};
  if (::stat(file.c_str(), &a) == 0 && ::stat(latest().c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
    return;  // already the latest
  link_atomic(file, latest());
  bool removed = false;
  for (const auto& [e, path] : epochs()) {
    if (e > epoch) {
      std::error_code ec;
      fs::remove(path, ec);
      removed = true;
    }
  }
  if (removed) sync_directory(dir_);
}

std::vector<std::pair<int64_t, std::string>> RunCheckpoints::epochs() const {
  static const std::regex name("checkpoint-epoch([0-9]{1,9})\\.pt");
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name)) out.emplace_back(std::stoll(m[1]), entry.path().string());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

std::string RunCheckpoints::newest_intact(const std::string& except) const {
  struct stat skip {};
  const bool has_skip = ::stat(except.c_str(), &skip) == 0;
  for (const auto& [epoch, file] : epochs()) {
    struct stat st {};
    if (has_skip && ::stat(file.c_str(), &st) == 0 && st.st_ino == skip.st_ino && st.st_dev == skip.st_dev)
      continue;  // the same file as `except` (checkpoint.pt is a hard link to the newest)
    try {
      verify_checkpoint(file);
      return file;
    } catch (const CheckpointError&) {
    }
  }
  return "";
}

void RunCheckpoints::remove_stale_temporaries() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string file = entry.path().filename().string();
    const bool ours = file.rfind("checkpoint", 0) == 0 || file == "config.json.tmp" || file == "metrics.jsonl.tmp";
    if (ours && file.size() > 4 && file.compare(file.size() - 4, 4, ".tmp") == 0) fs::remove(entry.path(), ec);
  }
}

}  // namespace eshift
