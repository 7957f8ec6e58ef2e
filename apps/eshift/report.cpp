// eshift report DIR...: figures and report.md from run and experiment directories (analysis/report.h).
#include <cstdio>

#include "command.h"
#include "eshift/analysis/report.h"

namespace eshift::cli {

namespace {
class ReportCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("dirs", dirs_, "run directories (metrics.jsonl) and experiment directories")->required();
    app.add_option("--out", out_dir_, "where report.md and the figures go (default DIR1/report)");
  }

  int run() override {
    if (out_dir_.empty()) out_dir_ = (dirs_.empty() ? std::string(".") : dirs_.front()) + "/report";
    std::printf("report written to %s\n", write_report(dirs_, out_dir_).c_str());
    return 0;
  }

 private:
  std::vector<std::string> dirs_;
  std::string out_dir_;
};
}  // namespace

std::unique_ptr<Command> make_report_command() { return std::make_unique<ReportCommand>(); }

}  // namespace eshift::cli
