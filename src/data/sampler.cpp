#include "eshift/data/sampler.h"

#include <stdexcept>
#include <string>

namespace eshift {

std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size, bool pad) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw std::invalid_argument("rank " + std::to_string(rank) + " is not in a world of " + std::to_string(world_size));
  if (n < 0) throw std::invalid_argument("a shard of a negative number of examples");
  const int64_t total = pad ? (n + world_size - 1) / world_size * world_size : n;
  std::vector<int64_t> out;
  if (n == 0) return out;
  out.reserve(total / world_size + 1);
  for (int64_t p = rank; p < total; p += world_size) out.push_back(p % n);
  return out;
}

}  // namespace eshift
