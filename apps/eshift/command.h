#pragma once
// One command of the eshift CLI (train, eval, bench, demo, audit, experiment, report): it registers
// its flags on its CLI11 subcommand, and runs once they are parsed. Errors are exceptions; main
// prints their first line as "eshift: error: …" and exits 1.
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace eshift::cli {

class Command {
 public:
  virtual ~Command() = default;
  virtual void add_flags(CLI::App& app) = 0;
  virtual int run() = 0;  // the exit status
};

struct CommandEntry {
  std::string name, description;
  std::function<std::unique_ptr<Command>()> make;
};

// Every command, in the order of `eshift --help` (main.cpp).
const std::vector<CommandEntry>& command_registry();

std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_bench_command();
std::unique_ptr<Command> make_demo_command();
std::unique_ptr<Command> make_audit_command();
std::unique_ptr<Command> make_experiment_command();
std::unique_ptr<Command> make_report_command();
std::unique_ptr<Command> make_launch_command();
std::unique_ptr<Command> make_models_command();
std::unique_ptr<Command> make_import_command();
std::unique_ptr<Command> make_detect_eval_command();
std::unique_ptr<Command> make_make_coco_shapes_command();

}  // namespace eshift::cli
