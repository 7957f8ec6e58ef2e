// eshift audit: which parameters of a model are scale-invariant, measured (analysis/audit.h).
#include <cstdio>

#include "command.h"
#include "eshift/models/audit.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class AuditCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    model_.add(app, spec_);
    app.add_option("--image", image_, "input size CxHxW")->capture_default_str();
    app.add_option("--classes", spec_.num_classes)->capture_default_str();
    app.add_option("--batch-size", options_.batch_size)->capture_default_str();
    app.add_option("--tol", options_.tolerance, "relative output change below which a parameter counts as invariant")
        ->capture_default_str();
    app.add_option("--seed", options_.seed)->capture_default_str();
    threads_.add(app);
  }

  int run() override {
    model_.apply(spec_);
    threads_.apply();
    std::tie(spec_.in_channels, options_.height, options_.width) = parse_image(image_);
    spec_.validate();
    const auto rows = audit_scale_invariance(spec_, options_);
    std::printf("scale-invariance audit of %s (wnorm %s, norm %s), float64, train mode, batch %lld of %s, "
                "scales 0.5 and 3, tolerance %g\n\n",
                spec_.name.c_str(), family_name(spec_.wnorm).c_str(), spec_.norm.c_str(),
                (long long)options_.batch_size, image_.c_str(), options_.tolerance);
    std::fputs(audit_table(rows).c_str(), stdout);
    return 0;
  }

 private:
  ModelSpec spec_;
  ModelFlags model_;
  ThreadFlags threads_;
  AuditOptions options_;
  std::string image_ = "1x28x28";
};
}  // namespace

std::unique_ptr<Command> make_audit_command() { return std::make_unique<AuditCommand>(); }

}  // namespace eshift::cli
