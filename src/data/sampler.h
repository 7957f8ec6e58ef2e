#pragma once
// Which positions of an epoch's order a process takes: PyTorch's DistributedSampler. The order (a
// shuffle of the whole dataset, a function of seed and epoch, data/batch_loader.h) is padded to a
// multiple of the world size by repeating its start, and rank r takes positions r, r + W, r + 2W, …
// Every rank gets ceil(n / W) positions and so takes the same number of steps; the shards are
// disjoint apart from the padding and cover the order. With a global batch B split as B / W per
// rank, step k of every rank together sees exactly positions [kB, (k+1)B) of the order: the
// examples a single process with batch B sees at step k.
//
// Evaluation shards are not padded (a repeated example would count twice): rank r takes r, r + W, …
// below n, and the ranks' metric sums add up to the whole set's.
#include <cstdint>
#include <vector>

namespace eshift {

// Positions (into an order of n) rank `rank` of `world_size` takes; padded: ceil(n / W) of them,
// the padding wrapping around to the order's start (position p ≥ n means p mod n).
std::vector<int64_t> shard_positions(int64_t n, int rank, int world_size, bool pad = true);

}  // namespace eshift
