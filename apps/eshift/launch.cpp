// eshift launch: starts the processes of a data-parallel run on this machine, as torchrun does.
//   eshift launch --nproc N [--nnodes M --node-rank K --master-addr A --master-port P] -- train FLAGS…
// Each process is this binary with FLAGS and, in its environment, RANK = K·N + i, WORLD_SIZE = M·N,
// LOCAL_RANK = i, LOCAL_WORLD_SIZE = N, MASTER_ADDR, MASTER_PORT (and OMP_NUM_THREADS = cores / N
// unless set). SIGINT/SIGTERM are forwarded to every process (they stop after the current step). When
// a process fails, the others are stopped (SIGTERM, then SIGKILL after --grace seconds) and the
// launcher exits with the first failing rank's status (128 + S for a signal S).
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "command.h"

extern char** environ;

namespace eshift::cli {

namespace {
constexpr int kMaxProcesses = 256;
volatile sig_atomic_t g_children[kMaxProcesses];
volatile sig_atomic_t g_num_children = 0;
volatile sig_atomic_t g_forwarded = 0;

void forward(int sig) {
  g_forwarded = sig;
  for (int i = 0; i < g_num_children; ++i)
    if (g_children[i] > 0) kill(g_children[i], sig);
}

// A TCP port free right now on this machine (the single-machine default; a small race remains).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno) + " (give --master-port)");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

class LaunchCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("--nproc", nproc_, "processes on this machine")->required();
    app.add_option("--nnodes", nnodes_, "machines")->capture_default_str();
    app.add_option("--node-rank", node_rank_, "this machine's index, 0 .. nnodes-1")->capture_default_str();
    app.add_option("--master-addr", master_addr_, "the address of rank 0's machine")->capture_default_str();
    app.add_option("--master-port", master_port_,
                   "rank 0's rendezvous port (default: a free port with one machine, 29500 with several)");
    app.add_option("--grace", grace_, "seconds the others get to stop after a process fails, before SIGKILL")
        ->capture_default_str();
    app.add_option("command", command_, "the eshift command each process runs, after --: train FLAGS…")->required();
  }

  int run() override {
    if (nproc_ < 1 || nproc_ > kMaxProcesses) throw std::invalid_argument("--nproc must be in [1, " + std::to_string(kMaxProcesses) + "]");
    if (nnodes_ < 1) throw std::invalid_argument("--nnodes must be >= 1");
    if (node_rank_ < 0 || node_rank_ >= nnodes_)
      throw std::invalid_argument("--node-rank " + std::to_string(node_rank_) + " must be in [0, --nnodes " + std::to_string(nnodes_) + ")");
    if (master_port_ < 0 || master_port_ > 65535) throw std::invalid_argument("--master-port must be in [1, 65535]");
    if (grace_ < 0) throw std::invalid_argument("--grace must be >= 0");
    if (command_.front() != "train")
      throw std::invalid_argument("eshift launch runs `train` (after --), got '" + command_.front() + "'");
    const int port = master_port_ > 0 ? master_port_ : nnodes_ == 1 ? free_port() : 29500;
    const int world = nnodes_ * nproc_;
    const char* omp = std::getenv("OMP_NUM_THREADS");
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const std::string threads = omp && *omp ? omp : std::to_string(std::max(1u, cores / nproc_));
    std::cerr << "eshift launch: " << nproc_ << " process(es) of " << world << ", rendezvous " << master_addr_ << ":"
              << port << ", " << threads << " thread(s) each\n";

    std::signal(SIGINT, forward);
    std::signal(SIGTERM, forward);
    std::vector<pid_t> pids(nproc_, -1);
    std::vector<int> statuses(nproc_, 0);
    for (int i = 0; i < nproc_; ++i) {
      std::vector<std::string> env;
      for (char** e = environ; *e; ++e) {
        const std::string var(*e);
        for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=",
                                 "GROUP_RANK=", "OMP_NUM_THREADS="})
          if (var.rfind(name, 0) == 0) goto skip;
        env.push_back(var);
      skip:;
      }
      env.push_back("RANK=" + std::to_string(node_rank_ * nproc_ + i));
      env.push_back("WORLD_SIZE=" + std::to_string(world));
      env.push_back("LOCAL_RANK=" + std::to_string(i));
      env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc_));
      env.push_back("GROUP_RANK=" + std::to_string(node_rank_));
      env.push_back("MASTER_ADDR=" + master_addr_);
      env.push_back("MASTER_PORT=" + std::to_string(port));
      env.push_back("OMP_NUM_THREADS=" + threads);
      std::vector<char*> envp, argv;
      for (auto& v : env) envp.push_back(v.data());
      envp.push_back(nullptr);
      std::string self = "/proc/self/exe";
      argv.push_back(self.data());
      for (auto& a : command_) argv.push_back(a.data());
      argv.push_back(nullptr);
      const pid_t pid = fork();
      if (pid < 0) {
        forward(SIGTERM);
        throw std::runtime_error(std::string("cannot start process ") + std::to_string(i) + ": " + std::strerror(errno));
      }
      if (pid == 0) {
        // its own process group: a terminal's ^C reaches the launcher, which forwards it once; and
        // it stops if the launcher dies
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        execve("/proc/self/exe", argv.data(), envp.data());
        std::fprintf(stderr, "eshift launch: cannot run %s: %s\n", self.c_str(), std::strerror(errno));
        std::_Exit(127);
      }
      pids[i] = pid;
      g_children[i] = pid;
      g_num_children = i + 1;
    }

    int running = nproc_, first_failure = -1;
    auto deadline = std::chrono::steady_clock::time_point::max();
    while (running > 0) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid < 0 && errno != EINTR) break;
      if (pid <= 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          for (int i = 0; i < nproc_; ++i)
            if (pids[i] > 0) kill(pids[i], SIGKILL);
          deadline = std::chrono::steady_clock::time_point::max();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      int i = 0;
      while (i < nproc_ && pids[i] != pid) ++i;
      if (i == nproc_) continue;
      pids[i] = -1;
      g_children[i] = -1;
      statuses[i] = status;
      --running;
      if (exit_code(status) != 0 && first_failure < 0) {
        first_failure = i;
        if (running > 0) {
          std::cerr << "eshift launch: rank " << node_rank_ * nproc_ + i << " " << describe_status(status)
                    << "; stopping the other processes\n";
          forward(SIGTERM);
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_);
        }
      }
    }
    if (first_failure < 0) return 0;
    std::cerr << "eshift launch: rank " << node_rank_ * nproc_ + first_failure << " " << describe_status(statuses[first_failure]) << "\n";
    return exit_code(statuses[first_failure]);
  }

 private:
  int nproc_ = 1, nnodes_ = 1, node_rank_ = 0, master_port_ = 0, grace_ = 30;
  std::string master_addr_ = "127.0.0.1";
  std::vector<std::string> command_;
};
}  // namespace

std::unique_ptr<Command> make_launch_command() { return std::make_unique<LaunchCommand>(); }

}  // namespace eshift::cli
