#pragma once
// One run per directory: a process that writes a run directory (eshift train, rank 0 of a
// data-parallel run, the runs of an experiment) holds an exclusive flock(2) on DIR/run.lock for its
// whole life. The kernel releases it when the process ends, however it ends (exit, exception, kill
// -9, a power cut), so a dead run never leaves a stale lock; the file itself stays and says who held
// it last. Readers (eval, report) do not take it.
//
// The file holds one line, "pid P on host H since T", written by the holder after it has the lock;
// a second writer is refused with that line. The descriptor is close-on-exec: programs the run starts
// (gnuplot) do not inherit the lock.
#include <string>

namespace eshift {

class RunLock {
 public:
  // Creates `dir` (and its parents) when missing and takes the lock, or throws std::runtime_error,
  // one line: "DIR is in use by another run (pid P on host H since T): …".
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace eshift
