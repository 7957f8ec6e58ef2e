#include "eshift/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "eshift/core/fault_injection.h"

namespace eshift {

namespace {
std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::string parent_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// One line for the failure `err` (an errno value) while `doing` something with `path`.
std::runtime_error file_error(int err, const std::string& doing, const std::string& path) {
  if (err == ENOSPC) return std::runtime_error("no space left on device " + doing + " " + path);
  if (err == EDQUOT) return std::runtime_error("disk quota exceeded " + doing + " " + path);
  return std::runtime_error("cannot " + std::string(doing == "writing" ? "write" : doing) + " " + path + ": " +
                            std::strerror(err));
}

// Writes all of [data, data + size) to fd, retrying interrupted and short writes. Returns 0 or errno.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const size_t allowed = write_budget(size);
    if (allowed == 0) return ENOSPC;  // injected "disk full"
    const ssize_t n = ::write(fd, data, allowed);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

int fsync_retrying(int fd) {
  for (;;) {
    if (::fsync(fd) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EINVAL || errno == EROFS) return 0;  // a file that cannot be synced (a pipe, /dev/…)
    return errno;
  }
}
}  // namespace

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw file_error(errno, "syncing", dir);
  const int err = fsync_retrying(fd);
  ::close(fd);
  if (err) throw file_error(err, "syncing", dir);
}

void write_file_atomic(const std::string& path, std::initializer_list<std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw file_error(errno, "writing", path);
  int err = 0;
  for (auto piece : pieces) {
    if (!err) err = write_all(fd, piece.data(), piece.size());
    fault_point("writing:" + base_name(path));  // between pieces: the temporary file is incomplete
  }
  if (!err) err = fsync_retrying(fd);
  if (::close(fd) != 0 && !err && errno != EINTR) err = errno;
  if (!err) {
    fault_point("before-rename:" + base_name(path));
    if (::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  }
  if (err) {
    ::unlink(tmp.c_str());
    throw file_error(err, "writing", path);
  }
  fault_point("after-rename:" + base_name(path));
  sync_directory(parent_dir(path));
}

void link_atomic(const std::string& target, const std::string& link) {
  const std::string tmp = link + ".tmp";
  ::unlink(tmp.c_str());
  fault_point("before-link:" + base_name(link));
  if (::link(target.c_str(), tmp.c_str()) == 0) {
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw file_error(err, "writing", link);
    }
  } else if (errno == EPERM || errno == EXDEV || errno == EMLINK || errno == ENOTSUP) {
    // no hard links here (FAT, some network file systems): a checked copy
    std::ifstream in(target, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.eof() || in.bad()) throw std::runtime_error("cannot read " + target);
    write_file_atomic(link, {bytes});
  } else {
    throw file_error(errno, "writing", link);
  }
  fault_point("after-link:" + base_name(link));
  sync_directory(parent_dir(link));
}

AppendFile::AppendFile(const std::string& path, bool truncate) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  if (fd_ < 0) throw file_error(errno, "writing", path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw file_error(err, "writing", path);
  }
  size_ = st.st_size;
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(std::string_view bytes) {
  const int err = write_all(fd_, bytes.data(), bytes.size());
  if (err) {
    if (::ftruncate(fd_, size_) != 0) {
      // the partial bytes stay; readers of metrics.jsonl drop a torn last line
    }
    throw file_error(err, "writing", path_);
  }
  size_ += static_cast<long long>(bytes.size());
}

void AppendFile::sync() {
  if (const int err = fsync_retrying(fd_)) throw file_error(err, "writing", path_);
}

}  // namespace eshift
