// eshift train: one training run (train/trainer.h), written to --out. Started by torchrun or
// `eshift launch` (WORLD_SIZE > 1 in the environment), it is one process of a data-parallel run:
// only rank 0 prints and writes.
#include <cstdio>
#include <iostream>

#include "eshift/distributed/environment.h"

#include "command.h"
#include "eshift/tasks/registry.h"
#include "eshift/train/trainer.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class TrainCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    flags_.add(app, config_);
    app.add_option("--out", config_.out_dir, "run directory: metrics.jsonl, config.json, checkpoint.pt");
    app.add_option("--init-from", config_.init_from,
                   "start from the weights of a PyTorch state dict (torch.save, torchvision's names; see eshift import)");
    app.add_option("--init-backbone", config_.init_backbone,
                   "a detector: its backbone from an ImageNet classifier of the same ResNet, an eshift checkpoint or a "
                   "PyTorch state dict in torchvision's names (its fc is left out)");
    app.add_flag("--resume", config_.resume,
                 "continue the run in --out from its checkpoint; settings that change the run's meaning must "
                 "match it (see --resume-override)");
    app.add_option("--resume-from", config_.resume_from,
                   "continue the run in --out from this checkpoint (an older checkpoint-epoch<N>.pt)");
    app.add_option("--resume-override", config_.resume_override,
                   "settings a resume may change, by config.json name (e.g. epochs,lr); recorded in its history")
        ->delimiter(',');
    app.add_option("--keep-checkpoints", config_.keep_checkpoints, "per-epoch checkpoints kept in --out")
        ->capture_default_str();
    app.add_option("--on-nonfinite", config_.on_nonfinite,
                   "a non-finite loss or gradient: stop (the run) or skip (the step, counted; stops after " +
                       std::to_string(kMaxNonfiniteInARow) + " in a row)")
        ->capture_default_str();
    // data parallelism (WORLD_SIZE > 1)
    app.add_flag("--sync-bn", config_.sync_bn, "data parallel: BatchNorm statistics over all processes (default: each its own)");
    app.add_option("--dist-timeout", config_.dist_timeout,
                   "data parallel: seconds to wait for the other processes (rendezvous, each collective) before "
                   "stopping with an error naming the rank that did not answer")
        ->capture_default_str();
    app.add_option("--bucket-mb", config_.bucket_mb, "data parallel: gradient all-reduce bucket size (MiB)")
        ->capture_default_str();
    app.add_flag("!--no-dist-overlap", config_.dist_overlap,
                 "data parallel: all-reduce the gradients after backward instead of during it (to measure the overlap)");
    app.add_option("--dist-check-every", config_.dist_check_every,
                   "data parallel: compare the parameters bit for bit across processes every N steps (0 = never)")
        ->capture_default_str();
  }

  int run() override {
    const auto recipe = flags_.apply(config_);
    const auto dist = read_dist_environment();
    if (dist.rank != 0 && !std::freopen("/dev/null", "w", stdout))  // rank 0 prints the progress
      throw std::runtime_error("cannot silence the output of " + dist.describe());
    for (const auto& line : recipe) std::cout << line << "\n";
    auto result = Trainer(config_, make_task(config_.task, config_.task_options()), {nullptr, dist}).run();
    if (result.interrupted) return 128 + (g_stop_signal ? g_stop_signal.load() : 2);  // 130 SIGINT, 143 SIGTERM
    if (result.diverged) throw std::runtime_error(result.stop_message);
    if (!config_.out_dir.empty()) std::cout << "run written to " << config_.out_dir << " (metrics.jsonl, checkpoint.pt)\n";
    return 0;
  }

 private:
  TrainConfig config_;
  TrainFlags flags_;
};
}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(); }

}  // namespace eshift::cli
