#include "eshift/core/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace eshift {

namespace {
std::string holder_line() {
  char host[256] = "?";
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  host[sizeof host - 1] = '\0';
  char since[32] = "?";
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  if (gmtime_r(&now, &utc)) std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return "pid " + std::to_string(getpid()) + " on host " + host + " since " + since;
}

// The holder's line; the holder writes it right after taking the lock, so a reader that comes in
// between waits for it a moment.
std::string read_holder(int fd) {
  std::string text;
  for (int attempt = 0; attempt < 50; ++attempt) {
    char buffer[512];
    const ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
    if (n > 0) {
      text.assign(buffer, static_cast<size_t>(n));
      const auto end = text.find('\n');
      if (end != std::string::npos) return text.substr(0, end);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return text.empty() ? "holder unknown" : text;
}
}  // namespace

RunLock::RunLock(const std::string& dir) : path_(dir + "/run.lock") {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw std::runtime_error("cannot create the run directory " + dir + " (" + error.message() + ")");
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path_ + " (" + std::strerror(errno) + ")");
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    const std::string holder = why == EWOULDBLOCK ? read_holder(fd_) : "";
    close(fd_);
    fd_ = -1;
    if (why == EWOULDBLOCK)
      throw std::runtime_error(dir + " is in use by another run (" + holder +
                               "): wait for it to end, stop it, or choose another --out");
    throw std::runtime_error("cannot lock " + path_ + " (" + std::strerror(why) + ")");
  }
  const std::string line = holder_line() + "\n";
  if (ftruncate(fd_, 0) != 0 || pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    const int why = errno;
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot write " + path_ + " (" + std::strerror(why) + ")");
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

}  // namespace eshift
