#pragma once
// The checkpoints of a run directory:
//   checkpoint-epoch<N>.pt   one per epoch, the last `keep` epochs kept (--keep-checkpoints)
//   checkpoint.pt            the latest: a hard link to the newest checkpoint-epoch<N>.pt (a copy
//                            where the file system has no hard links)
// Each file is written atomically (core/atomic_file.h); checkpoint.pt is replaced atomically after
// the epoch's file is complete, so a crash at any point leaves checkpoint.pt naming a whole
// checkpoint, the previous epoch's or the new one's.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace eshift {

class RunCheckpoints {
 public:
  RunCheckpoints(std::string dir, int keep);

  std::string latest() const { return dir_ + "/checkpoint.pt"; }
  std::string of_epoch(int64_t epoch) const;

  // write(path) writes the epoch's checkpoint to path; then checkpoint.pt is made to name it and
  // the epoch checkpoints older than the last `keep` (or newer than this one: left by a run resumed
  // from an older checkpoint) are removed.
  void save(int64_t epoch, const std::function<void(const std::string& path)>& write) const;

  // Makes `file` (epoch `epoch`, from --resume-from or the newest intact epoch file) the latest:
  // checkpoint.pt names it and the epoch checkpoints after `epoch` (the abandoned continuation) are
  // removed, so a later --resume continues this line, not the old one.
  void restart_from(const std::string& file, int64_t epoch) const;

  // The per-epoch checkpoints in the directory, newest first.
  std::vector<std::pair<int64_t, std::string>> epochs() const;

  // The newest per-epoch checkpoint, other than `except`, whose checksum verifies; "" when none.
  std::string newest_intact(const std::string& except) const;

  // Removes temporary files a crash inside eshift's writes left behind (checkpoint*.tmp,
  // config.json.tmp, metrics.jsonl.tmp; other files are left alone).
  void remove_stale_temporaries() const;

 private:
  std::string dir_;
  int keep_;
};

}  // namespace eshift
