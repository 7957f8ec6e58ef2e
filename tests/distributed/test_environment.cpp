// The torchrun environment: what a process reads, and a one-line error naming the variable for
// anything malformed.
#include <gtest/gtest.h>

#include <map>

#include "eshift/distributed/environment.h"

using namespace eshift;

namespace {
DistEnvironment read(std::map<std::string, std::string> vars) {
  return read_dist_environment([vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

void expect_error(std::map<std::string, std::string> vars, const std::string& needle) {
  try {
    read(vars);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(DistEnvironment, WithoutWorldSizeTheProcessRunsAlone) {
  const auto env = read({{"RANK", "3"}});
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_FALSE(read({{"WORLD_SIZE", "1"}}).distributed());
}

TEST(DistEnvironment, ReadsWhatTorchrunSets) {
  const auto env = read({{"WORLD_SIZE", "8"}, {"RANK", "5"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                         {"MASTER_ADDR", "10.0.0.2"}, {"MASTER_PORT", "29500"}});
  EXPECT_TRUE(env.distributed());
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_EQ(env.master_addr, "10.0.0.2");
  EXPECT_EQ(env.master_port, 29500);
  EXPECT_FALSE(env.launcher_serves_store);
  EXPECT_TRUE(read({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"},
                    {"TORCHELASTIC_USE_AGENT_STORE", "True"}})
                  .launcher_serves_store);
  // LOCAL_RANK defaults from RANK
  EXPECT_EQ(read({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}).local_rank, 1);
}

TEST(DistEnvironment, MalformedVariablesAreNamed) {
  const std::map<std::string, std::string> ok = {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"},
                                                 {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& name, const std::string& value) {
    auto v = ok;
    v[name] = value;
    return v;
  };
  auto without = [&](const std::string& name) {
    auto v = ok;
    v.erase(name);
    return v;
  };
  expect_error(with("WORLD_SIZE", "two"), "WORLD_SIZE=two");
  expect_error(with("WORLD_SIZE", "0"), "WORLD_SIZE=0");
  expect_error(with("WORLD_SIZE", "2x"), "WORLD_SIZE=2x");
  expect_error(with("RANK", "2"), "RANK=2 must be an integer in [0, 1]");
  expect_error(with("RANK", "-1"), "RANK=-1");
  expect_error(without("RANK"), "RANK is not set");
  expect_error(without("MASTER_ADDR"), "MASTER_ADDR is not set");
  expect_error(without("MASTER_PORT"), "MASTER_PORT is not set");
  expect_error(with("MASTER_PORT", "70000"), "MASTER_PORT=70000");
  expect_error(with("MASTER_PORT", "99999999999999999999"), "MASTER_PORT=99999999999999999999");
  expect_error(with("LOCAL_RANK", "5"), "LOCAL_RANK=5");
}
