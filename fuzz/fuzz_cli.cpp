// Fuzz target: the command-line parser (every command's flags, CLI11). Input: the arguments, one
// per line (at most 64). Parsing may fail only with a CLI11 error (eshift exits 2 with one line).
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"eshift"};
  std::string arg;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == '\n') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg.push_back(static_cast<char>(data[i]));
    }
  }
  if (!arg.empty()) args.push_back(arg);
  CLI::App app{"eshift"};
  app.require_subcommand(1);
  std::vector<std::unique_ptr<eshift::cli::Command>> commands;
  for (const auto& entry : eshift::cli::command_registry()) {
    commands.push_back(entry.make());
    commands.back()->add_flags(*app.add_subcommand(entry.name, entry.description));
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error&) {
  }
  return 0;
}
