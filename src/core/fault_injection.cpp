#include "eshift/core/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <mutex>

namespace eshift {

namespace {
std::mutex g_mutex;

int64_t& budget() {
  static int64_t bytes = [] {
    const char* env = std::getenv("ESHIFT_FAIL_WRITES_AFTER");
    return env && *env ? std::strtoll(env, nullptr, 10) : int64_t(-1);
  }();
  return bytes;
}

struct KillAt {
  std::string name;
  long count = 1;
  long seen = 0;
};

KillAt& kill_at() {
  static KillAt k = [] {
    KillAt k;
    const char* env = std::getenv("ESHIFT_KILL_AT");
    if (!env) return k;
    const std::string spec = env;
    const auto hash = spec.rfind('#');
    k.name = spec.substr(0, hash);
    if (hash != std::string::npos) k.count = std::strtol(spec.c_str() + hash + 1, nullptr, 10);
    return k;
  }();
  return k;
}
}  // namespace

void fault_point(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& k = kill_at();
  if (k.name.empty() || k.name != name) return;
  if (++k.seen == k.count) std::raise(SIGKILL);
}

size_t write_budget(size_t wanted) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& left = budget();
  if (left < 0) return wanted;
  const size_t allowed = std::min<size_t>(wanted, static_cast<size_t>(left));
  left -= static_cast<int64_t>(allowed);
  return allowed;
}

void set_write_budget(int64_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  budget() = bytes;
}

}  // namespace eshift
