#pragma once
// The one writer of every file eshift writes: checkpoints, config.json, metrics.jsonl, TensorBoard
// event files, figures' data, experiment tables and reports.
//
// Replacing a file (write_file_atomic): the bytes go to "<path>.tmp" in the same directory, every
// write(2) and the close are checked, the file is fsynced, renamed over <path>, and the directory
// is fsynced. A reader, or a run resumed after a crash or a power cut, sees the old content or the
// new one, never a torn file. On failure the temporary file is removed, the old file is left as it
// was, and the error is one line naming the file: "no space left on device writing DIR/FILE".
//
// Appending (AppendFile): each append writes all its bytes or, on failure, cuts the file back to its
// length before the append, so earlier lines are never corrupted by a half-written one.
//
// Tests inject "disk full" and crashes here (core/fault_injection.h).
#include <initializer_list>
#include <string>
#include <string_view>

namespace eshift {

// Replaces `path` with the concatenation of `pieces`. Throws std::runtime_error (one line, naming
// `path`) when any step fails.
void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> pieces);

inline void write_text_atomic(const std::string& path, std::string_view text) { write_file_atomic(path, {text}); }

// Makes `link` name the file `target` names, replacing `link` atomically (a hard link renamed into
// place; a checked copy where the file system has no hard links). Both in the same directory.
void link_atomic(const std::string& target, const std::string& link);

// fsync(2) of a directory: renames and removals in it survive a power cut.
void sync_directory(const std::string& dir);

// A file written only at its end (metrics.jsonl, TensorBoard's event file).
class AppendFile {
 public:
  // Opens `path` for appending, creating it; `truncate` empties it first.
  AppendFile(const std::string& path, bool truncate);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Writes all of `bytes` at the end, or throws (one line naming the file) after cutting the file
  // back to its length before the call.
  void append(std::string_view bytes);
  // fsync(2): what was appended survives a power cut.
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  long long size_ = 0;  // bytes in the file after the last successful append
};

}  // namespace eshift
