// eshift demo: plain L2 vs ε-shifted L2 on the same data, model and seed, side by side.
#include <cstdio>

#include "command.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/trainer.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class DemoCommand : public Command {
 public:
  DemoCommand() {
    // default budget: 20000 training images, 5 epochs, cosine (about 10 minutes on a 2-core machine)
    base_.train_subset = 20000;
    base_.test_subset = 0;
    base_.epochs = 5;
    base_.schedule.base_lr = 0.1;
    base_.schedule.cosine = true;
  }

  void add_flags(CLI::App& app) override {
    flags_.add(app, base_);
    app.add_option("--lambda", lambda_, "λ of both regularizers")->capture_default_str();
    app.add_option("--out", base_.out_dir, "directory for both runs (plain_l2/, eps_l2/)");
  }

  int run() override {
    flags_.apply(base_);
    print_plan();
    TrainConfig plain = base_, shifted = base_;
    plain.decay = conv_decay_preset(ConvDecay::L2, lambda_, base_.decay.mineps, lambda_, base_.decay);
    plain.label = "plain-L2";
    shifted.decay = conv_decay_preset(ConvDecay::EpsShifted, lambda_, base_.decay.mineps, lambda_, base_.decay);
    shifted.label = "eps-L2";
    if (!base_.out_dir.empty()) {
      plain.out_dir = base_.out_dir + "/plain_l2";
      shifted.out_dir = base_.out_dir + "/eps_l2";
    }
    auto a = train(plain, classification_task());
    if (a.interrupted) return 128 + g_stop_signal;
    if (a.diverged) throw std::runtime_error("plain L2 run: " + a.stop_message);
    std::printf("\n");
    auto b = train(shifted, classification_task());
    if (b.interrupted) return 128 + g_stop_signal;
    if (b.diverged) throw std::runtime_error("ε-shifted L2 run: " + b.stop_message);
    print_table(a, b);
    return 0;
  }

 private:
  void print_plan() const {
    const auto& c = base_;
    std::printf("eshift demo: %s (wnorm %s, norm %s) on %s\n", c.model.name.c_str(), family_name(c.model.wnorm).c_str(),
                c.model.norm.c_str(), c.resolved_data_dir().c_str());
    std::printf("  %s training images, %s test images, %d epochs, batch %lld, lr %g%s, seed %llu for both runs\n",
                c.train_subset ? std::to_string(c.train_subset).c_str() : "all",
                c.test_subset ? std::to_string(c.test_subset).c_str() : "all", c.epochs, (long long)c.batch_size,
                c.schedule.base_lr, c.schedule.cosine ? " (cosine)" : "", (unsigned long long)c.seed);
    std::printf("  run A, plain L2:       L2 λ=%g on conv weights, BN γ and the classifier\n", lambda_);
    std::printf("  run B, ε-shifted L2:   ε-shifted L2 (λ=%g, ε=%g, the paper's LSGD) on conv weights,\n"
                "                         L2 λ=%g on BN γ and the classifier\n",
                lambda_, c.decay.mineps, lambda_);
    std::printf("  (the default budget is a subset of Fashion-MNIST; --train-subset 0 --epochs N uses all of it)\n\n");
  }

  void print_table(const TrainResult& a, const TrainResult& b) const {
    const auto& ra = a.history.back();
    const auto& rb = b.history.back();
    double ta = 0, tb = 0;
    for (const auto& r : a.history) ta += r.seconds;
    for (const auto& r : b.history) tb += r.seconds;
    std::printf("\n%-28s %14s %14s\n", "after the last epoch", "plain L2", "eps-shifted L2");
    std::printf("%-28s %13.2f%% %13.2f%%\n", "test accuracy (top-1)", 100 * ra.value("test_acc"), 100 * rb.value("test_acc"));
    std::printf("%-28s %14.4f %14.4f\n", "test loss", ra.value("test_loss"), rb.value("test_loss"));
    std::printf("%-28s %14.4f %14.4f\n", "final train loss", ra.value("train_loss"), rb.value("train_loss"));
    std::printf("%-28s %13.2f%% %13.2f%%\n", "final train accuracy", 100 * ra.value("train_acc"),
                100 * rb.value("train_acc"));
    std::printf("%-28s %14.4g %14.4g\n", "min per-filter sigma (conv)", ra.sigma_min, rb.sigma_min);
    std::printf("%-28s %14.4g %14.4g\n", "mean per-filter sigma (conv)", ra.sigma_mean, rb.sigma_mean);
    std::printf("%-28s %14.1f %14.1f\n", "training+eval seconds", ta, tb);
    if (!base_.out_dir.empty())
      std::printf("\nruns written to %s/plain_l2 and %s/eps_l2\n", base_.out_dir.c_str(), base_.out_dir.c_str());
  }

  TrainConfig base_;
  TrainFlags flags_;
  double lambda_ = 5e-4;
};
}  // namespace

std::unique_ptr<Command> make_demo_command() { return std::make_unique<DemoCommand>(); }

}  // namespace eshift::cli
