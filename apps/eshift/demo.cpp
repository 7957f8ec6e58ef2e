// eshift demo (make demo): plain L2 against the ε-shifted L2 (and no decay) on the same data, model
// and seed, side by side, with a table, sentences computed from the runs, report.md and figures
// (experiments/demo.h). Every training flag works; --preset classic is the demo before it.
#include <functional>
#include <iostream>

#include "command.h"
#include "eshift/experiments/demo.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class DemoCommand : public Command {
 public:
  DemoCommand() {
    apply_demo_preset("collapse", options_);  // the defaults --help shows
    flags_.mineps = "0.02";
  }

  void add_flags(CLI::App& app) override {
    app_ = &app;
    flags_.add(app, options_.base);
    app.add_option("--preset", preset_,
                   "collapse (plain L2 drives σ far below ε, the ε-shift holds it) or classic (the demo before it: "
                   "resnet20, 20000 images, 5 epochs, cosine, λ 5e-4 on every weight, ε 1e-3); flags given override it")
        ->capture_default_str();
    app.add_option("--lambda", options_.lambda, "λ of the conv weights' decay (plain and ε-shifted)")->capture_default_str();
    app.add_option("--seeds", options_.seeds, "runs per arm, seeds --seed, --seed + 1, …: > 1 measures the run-to-run spread")
        ->capture_default_str();
    app.add_flag("!--no-third-arm", options_.no_decay_arm, "leave out the arm without decay on the conv weights");
    app.add_option("--out", options_.out_dir, "directory of the runs, report.md and the figures (an earlier demo there is replaced)")
        ->capture_default_str();
  }

  int run() override {
    flags_.apply(options_.base);
    auto given = [this](const std::string& flag) { return app_->get_option(flag)->count() > 0; };
    // the preset's value of every setting it has whose flag was not given
    DemoOptions preset = options_;
    apply_demo_preset(preset_, preset);
    TrainConfig& c = options_.base;
    const TrainConfig& p = preset.base;
    const std::vector<std::pair<const char*, std::function<void()>>> settings = {
        {"--model", [&] { c.model.name = p.model.name; }},
        {"--train-subset", [&] { c.train_subset = p.train_subset; }},
        {"--test-subset", [&] { c.test_subset = p.test_subset; }},
        {"--epochs", [&] { c.epochs = p.epochs; }},
        {"--batch-size", [&] { c.batch_size = p.batch_size; }},
        {"--lr", [&] { c.schedule.base_lr = p.schedule.base_lr; }},
        {"--cos", [&] { c.schedule.cosine = p.schedule.cosine; }},
        {"--no-flip", [&] { c.hflip = p.hflip; }},
        {"--crop-padding", [&] { c.crop_padding = p.crop_padding; }},
        {"--probe-every", [&] { c.probe_every = p.probe_every; }},
        {"--lambda", [&] { options_.lambda = preset.lambda; }},
        {"--mineps", [&] { options_.eps = preset.eps; }},
        {"--no-third-arm", [&] { options_.no_decay_arm = preset.no_decay_arm; }},
        {"--seeds", [&] { options_.seeds = preset.seeds; }}};
    for (const auto& [flag, take_preset] : settings)
      if (!given(flag)) take_preset();
    if (given("--mineps")) options_.eps = c.decay.mineps;
    options_.others_wd = preset.others_wd;
    options_.preset = preset_;

    std::cout << "eshift demo (" << preset_ << "): the same " << c.model.name << ", data and seed trained with plain L2 "
              << "on the conv weights, with the ε-shifted L2 (ε = " << options_.eps << ") in its place"
              << (options_.no_decay_arm ? ", and without decay on them" : "") << "\n";
    const auto result = run_demo(options_);
    std::cout << "\n" << result.table << "\n" << result.sentences << "\nreport: " << result.report << "\n";
    for (const auto& f : result.figures) std::cout << "figure: " << f << "\n";
    return 0;
  }

 private:
  DemoOptions options_;
  TrainFlags flags_;
  std::string preset_ = "collapse";
  CLI::App* app_ = nullptr;
};
}  // namespace

std::unique_ptr<Command> make_demo_command() { return std::make_unique<DemoCommand>(); }

}  // namespace eshift::cli
