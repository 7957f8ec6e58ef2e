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
    app.add_flag("--resume", config_.resume, "continue the run in --out from its checkpoint");
  }

  int run() override {
    flags_.apply(config_);
    auto result = Trainer(config_, classification_task()).run();
    if (result.interrupted) return 130;
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
