// eshift experiment NAME: the runs that make one of the paper's claims visible (experiments/).
#include <cstdio>

#include "command.h"
#include "eshift/experiments/experiments.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class ExperimentCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    auto& o = options_;
    app.add_option("name", name_, "equivalence | underfit | collapse | seeds | equilibrium | optimizers | mineps")->required();
    app.add_option("--out", o.out_dir, "output directory (default runs/NAME)");
    data_.add(app);
    app.add_option("--model", o.model, "override the experiment's model");
    app.add_option("--train-subset", o.train_subset, "override: first N training images (0 = all)");
    app.add_option("--test-subset", o.test_subset, "override: first N test images (0 = all)");
    app.add_option("--batch-size", o.batch_size, "override the batch size");
    app.add_option("--epochs", o.epochs, "override the epochs of each run");
    app.add_option("--steps", o.steps, "equivalence: steps (default 300)");
    app.add_option("--lr", o.lr, "override the learning rate");
    app.add_option("--lambda", o.lambda, "override the decay strength λ");
    app.add_option("--eps", o.eps, "override ε of the ε-shifted runs");
    app.add_option("--seeds", o.seeds, "seeds: number of seeds")->capture_default_str();
    app.add_option("--seed", o.seed)->capture_default_str();
    add_device_flag(app, o.device);
    add_amp_flag(app, o.amp);
    threads_.add(app);
  }

  int run() override {
    threads_.apply();
    data_.apply(options_.data, options_.data_dir);
    if (options_.out_dir.empty()) options_.out_dir = "runs/" + name_;
    std::printf("experiment %s → %s\n\n", name_.c_str(), options_.out_dir.c_str());
    const auto r = run_experiment(name_, options_);
    std::printf("\n%s\nsummary and figures: %s\n", r.table.c_str(), r.summary.c_str());
    return 0;
  }

 private:
  std::string name_;
  ExperimentOptions options_;
  DataFlags data_;
  ThreadFlags threads_;
};
}  // namespace

std::unique_ptr<Command> make_experiment_command() { return std::make_unique<ExperimentCommand>(); }

}  // namespace eshift::cli
