#pragma once
// The CLI tests' helpers: run the eshift binary, read what a run wrote.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "eshift/train/checkpoint.h"
#include "test_util.h"

namespace eshift::test {
struct Result {
  int code = -1;
  std::string out, err;
};

// Runs `eshift ARGS` (with --threads 2 unless ARGS sets it, or the command has no such flag:
// detect-eval), with `env` ("NAME=value …") in its environment. The code of a process killed by
// signal S is 128 + S, as the shell reports it.
inline Result run(const std::string& args, const std::string& env = "") {
  TempDir io;
  const bool takes_threads = args.rfind("detect-eval", 0) != 0;
  const std::string threads = takes_threads && args.find("--threads") == std::string::npos ? " --threads 2" : "";
  const std::string cmd = env + " " + std::string(ESHIFT_BINARY) + " " + args + threads + " > " + (io / "out") +
                          " 2> " + (io / "err");
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(io / "out"), slurp(io / "err")};
}

// Small, quick training runs on the real data: resnet8 on a few hundred Fashion-MNIST images.
inline const std::string kData = std::string(" --data fashion-mnist --data-dir ") + ESHIFT_FASHION_MNIST;
inline const std::string kQuick = "train" + kData + " --model resnet8 --train-subset 320 --test-subset 200 --batch-size 32 --lr 0.05 --seed 11";

inline void expect_one_line_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("eshift: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// The lines of metrics.jsonl of one kind ("epoch" or "probe").
inline std::vector<nlohmann::json> metrics(const std::string& dir, const std::string& kind = "epoch") {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.at("kind") == kind) out.push_back(j);
  }
  return out;
}

// The weights stored in a run's checkpoint.
inline std::vector<torch::Tensor> checkpoint_weights(const std::string& path) {
  auto info = read_checkpoint_info(path);
  auto model = build_model(info.spec);
  load_checkpoint(path, *model, nullptr, info.spec, torch::kCPU);
  std::vector<torch::Tensor> out;
  for (auto& p : model->named_parameters()) out.push_back(p.value().detach().clone());
  for (auto& b : model->named_buffers()) out.push_back(b.value().clone());
  return out;
}

inline bool have_data() { return std::filesystem::exists(std::string(ESHIFT_FASHION_MNIST) + "/train-images-idx3-ubyte.gz"); }
}  // namespace eshift::test
