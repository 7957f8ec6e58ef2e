// eshift train: one training run (train/trainer.h), written to --out.
#include <iostream>

#include "command.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/trainer.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class TrainCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    flags_.add(app, config_);
    app.add_option("--out", config_.out_dir, "run directory: metrics.jsonl, config.json, checkpoint.pt");
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
  }

  int run() override {
    flags_.apply(config_);
    auto result = Trainer(config_, classification_task()).run();
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
