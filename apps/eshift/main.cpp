// eshift: train, evaluate and benchmark weight-normalized networks with the ε-shifted L2 regularizer.
//   eshift train  [flags]      train a model on a dataset (default: WS-ResNet-20 on Fashion-MNIST)
//   eshift eval   --checkpoint F   evaluate a checkpoint on the test split
//   eshift import --from F --model M --out C   a PyTorch state dict into an eshift checkpoint
//   eshift detect-eval --annotations A --results R   COCO AP/AR of a detector's results file
//   eshift make-coco-shapes --out DIR   a generated COCO folder (shapes, masks) to train a detector on
//   eshift bench  [flags]      time training steps on random data
//   eshift demo   [flags]      plain L2 vs ε-shifted L2 on Fashion-MNIST, side by side
//   eshift audit  [flags]      which parameters of a model are scale-invariant, measured
//   eshift models [NAME...]    the model zoo: parameters and conv GFLOPs of each model
//   eshift experiment NAME     equivalence | underfit | collapse | seeds | equilibrium
//   eshift report DIR...       figures and a Markdown summary of runs and experiments
//   eshift launch --nproc N -- train …   a data-parallel run's processes on this machine
// This file only dispatches: each command is its own file (command.h), shared flags are flags.h.
// Every error ends the program with one line "eshift: error: …" on stderr and exit status 1
// (2 for command-line syntax errors). SIGINT and SIGTERM stop a run after the current step (the
// last checkpoint is the last completed epoch's): exit status 130 and 143 (128 + the signal), as
// shells expect; a second signal stops at once.
#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "command.h"
#include "eshift/core/text.h"
#include "eshift/train/trainer.h"


namespace {

// glibc hands large freed blocks back to the kernel (mmap'd chunks above a threshold, heap trims),
// and LibTorch's CPU allocator frees every activation each step, so every step page-faults its
// memory in again. Keeping it: +30–50 % img/s for WS-ResNet-20 here, same peak RSS
// (bench/README.md has the measurements).
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest allowed value: blocks below 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // trim the heap only above 1 GiB of free memory at its top
}

void on_signal(int sig) {
  if (eshift::g_stop_requested) std::_Exit(128 + sig);  // second ^C: stop now
  eshift::g_stop_signal = sig;
  eshift::g_stop_requested = true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eshift::cli;
  keep_freed_memory();
  CLI::App app{"eshift: weight normalization family + ε-shifted L2 regularizer training on LibTorch"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  for (const auto& entry : command_registry()) {
    auto command = entry.make();
    auto* sub = app.add_subcommand(entry.name, entry.description);
    command->add_flags(*sub);
    commands.emplace_back(sub, std::move(command));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "eshift: error: %s (see eshift --help)\n", eshift::first_line(e.what()).c_str());
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    for (auto& [sub, command] : commands) {
      if (!*sub) continue;
      // only `train` is data-parallel: any other command started as one of several processes
      // (torchrun) would run W times over the same files
      const char* world = std::getenv("WORLD_SIZE");
      if (world && std::atoi(world) > 1 && sub->get_name() != "train")
        throw std::invalid_argument("eshift " + sub->get_name() + " runs as one process, but WORLD_SIZE=" + world +
                                    " is set: only `eshift train` trains data-parallel");
      return command->run();
    }
  } catch (const eshift::Interrupted& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "eshift: %s\n", eshift::first_line(e.what()).c_str());
    return 128 + eshift::g_stop_signal;  // 130 / 143
  } catch (const std::exception& e) {
    std::fflush(stdout);
    // a process of a data-parallel run says which one it is
    std::string where;
    const char* rank = std::getenv("RANK");
    const char* world = std::getenv("WORLD_SIZE");
    const std::string message = eshift::first_line(e.what());
    if (rank && world && std::atoi(rank) >= 0 && std::atoi(rank) < std::atoi(world) && message.rfind("rank ", 0) != 0)
      where = "rank " + std::string(rank) + ": ";
    std::fprintf(stderr, "eshift: error: %s%s\n", where.c_str(), message.c_str());
    return 1;
  }
  return 0;
}
