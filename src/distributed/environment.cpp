#include "eshift/distributed/environment.h"

#include <cerrno>
#include <climits>
#include <stdexcept>

namespace eshift {

namespace {
// The variable as an integer in [low, high]; `fallback` when it is unset and not required.
int integer(const GetEnv& getenv, const char* name, int low, int high, bool required, int fallback) {
  const char* text = getenv(name);
  if (text == nullptr || *text == '\0') {
    if (required) throw std::invalid_argument(std::string(name) + " is not set (a distributed run needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
    return fallback;
  }
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
    throw std::invalid_argument(std::string(name) + "=" + text + " must be an integer in [" + std::to_string(low) + ", " +
                                std::to_string(high) + "]");
  return static_cast<int>(value);
}
}  // namespace

DistEnvironment read_dist_environment(const GetEnv& getenv) {
  DistEnvironment env;
  env.restart_count = integer(getenv, "TORCHELASTIC_RESTART_COUNT", 0, INT_MAX, false, 0);
  env.world_size = integer(getenv, "WORLD_SIZE", 1, 1 << 16, false, 1);
  if (env.world_size == 1) return env;
  env.rank = integer(getenv, "RANK", 0, env.world_size - 1, true, 0);
  env.local_world_size = integer(getenv, "LOCAL_WORLD_SIZE", 1, env.world_size, false, env.world_size);
  env.local_rank = integer(getenv, "LOCAL_RANK", 0, env.local_world_size - 1, false, env.rank % env.local_world_size);
  const char* addr = getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0')
    throw std::invalid_argument("MASTER_ADDR is not set (a distributed run needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
  env.master_addr = addr;
  env.master_port = integer(getenv, "MASTER_PORT", 1, 65535, true, 0);
  const char* agent_store = getenv("TORCHELASTIC_USE_AGENT_STORE");
  env.launcher_serves_store = agent_store != nullptr && std::string(agent_store) == "True";
  return env;
}

}  // namespace eshift
