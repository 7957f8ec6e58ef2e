#pragma once
// Who this process is in a data-parallel run, read from the environment as torchrun sets it (and
// `eshift launch`): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
// Without WORLD_SIZE (or with WORLD_SIZE=1) the process runs alone and the others are ignored.
// torchrun's agent serves the rendezvous store itself and says so with
// TORCHELASTIC_USE_AGENT_STORE=True: then rank 0 connects to it as a client, like the others.
// TORCHELASTIC_RESTART_COUNT (read also for one process) counts torchrun's restarts.
#include <cstdlib>
#include <functional>
#include <string>

namespace eshift {

struct DistEnvironment {
  int rank = 0;              // 0 .. world_size-1; rank 0 writes the run's files
  int world_size = 1;        // processes in the run, over all machines
  int local_rank = 0;        // this process's index on its machine (its GPU with --device cuda)
  int local_world_size = 1;  // processes on this machine
  std::string master_addr;   // where rank 0 listens for the rendezvous (its TCPStore)
  int master_port = 0;
  bool launcher_serves_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True (torchrun)
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT: torchrun restarted the run's processes this often
                             // (--max-restarts); the run then continues from its checkpoint

  bool distributed() const { return world_size > 1; }
  // "rank 1 of 4" (for messages)
  std::string describe() const { return "rank " + std::to_string(rank) + " of " + std::to_string(world_size); }
};

using GetEnv = std::function<const char*(const char*)>;

// Reads the variables; throws std::invalid_argument naming the variable when one is malformed, out of
// range or missing (RANK, MASTER_ADDR and MASTER_PORT are required once WORLD_SIZE > 1).
DistEnvironment read_dist_environment(const GetEnv& getenv = [](const char* name) { return std::getenv(name); });

}  // namespace eshift
