// Data-parallel training end to end: the eshift binary as several processes on loopback (and across
// two network namespaces), against a single process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "cli_util.h"
#include "../distributed/ranks.h"

using namespace eshift;
using namespace eshift::test;

namespace {
// float64 and the same global batch: one process with batch 32 and two with 16 each compute the same
// mathematics, so their weights agree at rounding level (GroupNorm, or BatchNorm with --sync-bn)
const std::string kExact = kData + " --model resnet8 --train-subset 320 --test-subset 100 --batch-size 32 --lr 0.05 "
                                   "--seed 11 --dtype float64 --probe-every 0 --threads 1";

double largest_difference(const std::string& a, const std::string& b) {
  const auto wa = checkpoint_weights(a), wb = checkpoint_weights(b);
  EXPECT_EQ(wa.size(), wb.size());
  double out = 0;
  for (size_t i = 0; i < wa.size() && i < wb.size(); ++i)
    out = std::max(out, (wa[i].to(torch::kDouble) - wb[i].to(torch::kDouble)).abs().max().item<double>());
  return out;
}

// One process, then `eshift launch --nproc 2` with the same flags; the largest weight difference.
double one_vs_two(const std::string& flags) {
  TempDir one, two;
  const auto a = run("train" + kExact + flags + " --out " + one.path);
  EXPECT_EQ(a.code, 0) << a.err;
  // small buckets: several all-reduces per step, started during backward; and the parameters
  // compared bit for bit across the ranks after every step
  const auto b = run("launch --nproc 2 -- train" + kExact + flags + " --out " + two.path +
                     " --bucket-mb 0.02 --dist-check-every 1");
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("data parallel: 2 processes (gloo"), std::string::npos) << b.out;
  // rank 0 alone prints: one summary line for the one epoch
  size_t summaries = 0;
  for (size_t at = b.out.find("train epoch 1/1:"); at != std::string::npos; at = b.out.find("train epoch 1/1:", at + 1)) ++summaries;
  EXPECT_EQ(summaries, 1u) << b.out;
  EXPECT_EQ(metrics(two.path).size(), 1u);
  return largest_difference(one / "checkpoint.pt", two / "checkpoint.pt");
}
}  // namespace

TEST(DataParallelCli, TwoProcessesWithHalfTheBatchTrainLikeOneWithTheEpsilonShift) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  EXPECT_LT(one_vs_two(" --epochs 1 --norm gn --gn-groups 4 --el2 --lam 1e-3 --mineps 1e-3"), 1e-10);
}

TEST(DataParallelCli, TwoProcessesWithHalfTheBatchTrainLikeOneWithPlainL2) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  EXPECT_LT(one_vs_two(" --epochs 1 --norm gn --gn-groups 4 --wd 5e-3"), 1e-10);
}

TEST(DataParallelCli, SyncBatchNormMakesBatchNormTrainLikeOneProcess) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  EXPECT_LT(one_vs_two(" --epochs 1 --el2 --sync-bn"), 1e-10);
  // without it each process normalizes with its own half batch: measurably another computation
  EXPECT_GT(one_vs_two(" --epochs 1 --el2"), 1e-6);
}

TEST(DataParallelCli, AResumeMayUseAnotherNumberOfProcesses) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir straight, switched;
  const std::string flags = kExact + " --norm gn --gn-groups 4 --el2";
  ASSERT_EQ(run("train" + flags + " --epochs 2 --out " + straight.path).code, 0);
  const auto first = run("launch --nproc 2 -- train" + flags + " --epochs 1 --out " + switched.path);
  ASSERT_EQ(first.code, 0) << first.err;
  const auto rest = run("train" + flags + " --epochs 2 --resume --resume-override epochs --out " + switched.path);
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_LT(largest_difference(straight / "checkpoint.pt", switched / "checkpoint.pt"), 1e-10);
}

TEST(DataParallelCli, LaunchedRunTrainsToTheAccuracyOfOneProcess) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir one, two;
  // BatchNorm per process (the default): another trajectory, the same accuracy band (76.6 % vs 75.9 %
  // here; seed 6: 73.4 % vs 73.3 %)
  const std::string flags = kData + " --model resnet8 --train-subset 4096 --test-subset 2000 --batch-size 64 --lr 0.05 "
                                    "--epochs 3 --seed 5 --probe-every 0 --threads 1";
  ASSERT_EQ(run("train" + flags + " --out " + one.path).code, 0);
  const auto r = run("launch --nproc 2 -- train" + flags + " --out " + two.path);
  ASSERT_EQ(r.code, 0) << r.err;
  const double a = metrics(one.path).back().at("test_acc"), b = metrics(two.path).back().at("test_acc");
  EXPECT_GT(a, 0.65);
  EXPECT_NEAR(a, b, 0.04) << "one process " << a << ", two " << b;
  // the global batch: 4096 / 64 steps per epoch on every rank
  EXPECT_EQ(metrics(two.path).back().at("step"), 3 * 64);
}

TEST(DataParallelCli, OnlyRankZeroNeedsTheRunDirectoryToResume) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir straight, run_dir, io;
  const std::string flags = kExact + " --norm gn --gn-groups 4 --el2";
  ASSERT_EQ(run("train" + flags + " --epochs 2 --out " + straight.path).code, 0);
  ASSERT_EQ(run("launch --nproc 2 -- train" + flags + " --epochs 1 --out " + run_dir.path).code, 0);
  // by hand, as on two machines without a shared file system: rank 1's --out does not exist
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string resume = " train" + flags + " --epochs 2 --resume --resume-override epochs --dist-timeout 60 --out ";
  const std::string cmd = "(env " + env + " RANK=1 " + ESHIFT_BINARY + resume + (io / "absent") + " > " + (io / "r1") +
                          " 2>&1; echo $? > " + (io / "rc1") + ") & env " + env + " RANK=0 " + ESHIFT_BINARY + resume +
                          run_dir.path + " > " + (io / "r0") + " 2>&1; echo $? > " + (io / "rc0") + "; wait";
  std::system(cmd.c_str());
  EXPECT_EQ(slurp(io / "rc0"), "0\n") << slurp(io / "r0");
  EXPECT_EQ(slurp(io / "rc1"), "0\n") << slurp(io / "r1");
  EXPECT_FALSE(std::filesystem::exists(io / "absent"));
  EXPECT_EQ(metrics(run_dir.path).size(), 2u);
  EXPECT_LT(largest_difference(straight / "checkpoint.pt", run_dir / "checkpoint.pt"), 1e-10);
}

TEST(DataParallelCli, RanksThatDisagreeStopNamingTheSettingTheRankAndBothValues) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir io;
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string common = " train" + kData + " --model resnet8 --train-subset 320 --test-subset 100 --batch-size 32 "
                                                "--threads 1 --epochs 1 --probe-every 0 --dist-timeout 20 --out ";
  const std::string cmd = "(env " + env + " RANK=1 " + ESHIFT_BINARY + common + (io / "b") + " --lr 0.2 --width 8 > " +
                          (io / "r1") + " 2> " + (io / "e1") + "; echo $? > " + (io / "rc1") + ") & env " + env + " RANK=0 " +
                          ESHIFT_BINARY + common + (io / "a") + " --lr 0.1 > " + (io / "r0") + " 2> " + (io / "e0") +
                          "; echo $? > " + (io / "rc0") + "; wait";
  const auto t0 = std::chrono::steady_clock::now();
  std::system(cmd.c_str());
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20);
  for (const std::string rank : {"0", "1"}) {
    EXPECT_EQ(slurp(io / ("rc" + rank)), "1\n") << "rank " << rank;
    const auto err = slurp(io / ("e" + rank));
    EXPECT_EQ(err.rfind("eshift: error: rank " + rank + ": the ranks of the run differ: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("lr is 0.1 on rank 0 but 0.2 on rank 1"), std::string::npos) << err;
    EXPECT_NE(err.find("model.width is 16 on rank 0 but 8 on rank 1"), std::string::npos) << err;
  }
  EXPECT_FALSE(std::filesystem::exists(io / "a/checkpoint.pt"));  // nothing trained
}

// torchrun starts eshift unchanged (its agent serves the store: TORCHELASTIC_USE_AGENT_STORE). Where
// CMake found torchrun beside the LibTorch (pip's venv: make test-torch2).
TEST(DataParallelCli, TorchrunStartsItUnchanged) {
#if defined(ESHIFT_TORCHRUN)
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir one, two, io;
  const std::string flags = kExact + " --norm gn --gn-groups 4 --el2 --epochs 1";
  ASSERT_EQ(run("train" + flags + " --out " + one.path).code, 0);
  const std::string cmd = std::string(ESHIFT_TORCHRUN) + " --nproc-per-node 2 --no-python " + ESHIFT_BINARY + " train" + flags +
                          " --out " + two.path + " > " + (io / "out") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(io / "out");
  EXPECT_LT(largest_difference(one / "checkpoint.pt", two / "checkpoint.pt"), 1e-10);
#else
  GTEST_SKIP() << "no torchrun beside this LibTorch (make test-torch2 has one)";
#endif
}

// torchrun --max-restarts: rank 1 is killed in epoch 2, torchrun restarts both ranks with the same
// command, and the run continues from its checkpoint to the weights of an uninterrupted run.
TEST(DataParallelCli, TorchrunRestartsAKilledRankAndTheRunContinues) {
#if defined(ESHIFT_TORCHRUN)
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir one, two, io;
  const std::string flags = kExact + " --norm gn --gn-groups 4 --el2 --epochs 2";
  ASSERT_EQ(run("train" + flags + " --out " + one.path).code, 0);
  // the first attempt's rank 1 kills itself at its 15th step (epoch 2: 10 steps an epoch)
  const std::string wrapper = io / "rank.sh";
  std::ofstream(wrapper) << "#!/bin/sh\nif [ \"$RANK\" = 1 ] && [ \"$TORCHELASTIC_RESTART_COUNT\" = 0 ]; then "
                            "export ESHIFT_KILL_AT='step#15'; fi\nexec " << ESHIFT_BINARY << " \"$@\"\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  const std::string cmd = std::string(ESHIFT_TORCHRUN) + " --nproc-per-node 2 --max-restarts 1 --no-python " + wrapper +
                          " train" + flags + " --out " + two.path + " > " + (io / "out") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(io / "out");
  EXPECT_NE(slurp(io / "out").find("torchrun restart 1: continuing the run in"), std::string::npos) << slurp(io / "out");
  EXPECT_EQ(metrics(two.path).size(), 2u);
  EXPECT_LT(largest_difference(one / "checkpoint.pt", two / "checkpoint.pt"), 1e-10);
#else
  GTEST_SKIP() << "no torchrun beside this LibTorch (make test-torch2 has one)";
#endif
}

TEST(DataParallelCli, AKilledRankStopsTheOtherWithinTheTimeoutNamingIt) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir io;
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string args = " train" + kData + " --model resnet8 --train-subset 640 --test-subset 100 --batch-size 32 "
                                              "--threads 1 --epochs 1 --dist-timeout 10";
  const auto t0 = std::chrono::steady_clock::now();
  // rank 1 is killed (SIGKILL) at its third step; rank 0 runs in the foreground
  const std::string cmd = "(env " + env + " RANK=1 ESHIFT_KILL_AT='step#3' " + ESHIFT_BINARY + args + " > /dev/null 2>&1 &); env " +
                          env + " RANK=0 " + ESHIFT_BINARY + args + " > " + (io / "out") + " 2> " + (io / "err");
  const int status = std::system(cmd.c_str());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  const auto err = slurp(io / "err");
  EXPECT_EQ(err.rfind("eshift: error: rank 0 of 2: the gradients' all-reduce failed: rank 1 stopped responding", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_LT(seconds, 30) << "start-up, 3 steps, and at most the 10 s timeout";
}

TEST(DataParallelCli, SigtermToTheLauncherStopsEveryRankAfterTheSameStepAndTheRunResumes) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir out, io;
  const std::string train = " -- train" + kData + " --model resnet8 --train-subset 1280 --test-subset 100 --batch-size 32 "
                            "--threads 1 --epochs 3 --dist-timeout 20 --out " + out.path;
  // SIGTERM once the first epoch's checkpoint exists; the launcher forwards it to both ranks, which
  // agree on the step to stop after (a rank that stopped alone would leave the other waiting: exit 1)
  const std::string cmd = std::string(ESHIFT_BINARY) + " launch --nproc 2" + train + " > " + (io / "out") + " 2> " +
                          (io / "err") + " & pid=$!; for i in $(seq 1200); do [ -e " + (out / "checkpoint.pt") +
                          " ] && break; sleep 0.05; done; kill -TERM $pid; wait $pid; echo $? > " + (io / "rc");
  std::system(cmd.c_str());
  EXPECT_EQ(slurp(io / "rc"), "143\n") << slurp(io / "err");
  EXPECT_EQ(slurp(io / "err").find("error"), std::string::npos) << slurp(io / "err");
  EXPECT_NE(slurp(io / "out").find("interrupted in epoch"), std::string::npos) << slurp(io / "out");
  const auto resumed = run("launch --nproc 2" + train + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const auto epochs = metrics(out.path);
  ASSERT_EQ(epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) EXPECT_EQ(epochs[e].at("epoch"), e + 1);
}

TEST(DataParallelCli, LaunchExitsWithTheFailingRanksStatus) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  TempDir out;
  const auto r = run("launch --nproc 2 -- train" + kData + " --model resnet8 --train-subset 320 --batch-size 32 --threads 1 "
                     "--out " + out.path, "ESHIFT_KILL_AT='step#2'");
  EXPECT_EQ(r.code, 137) << r.err;
  EXPECT_NE(r.err.find("was killed by signal 9"), std::string::npos) << r.err;
}

TEST(DataParallelCli, BadEnvironmentAndRendezvousAreOneLineErrors) {
  const std::string train = "train" + kData + " --model resnet8 --train-subset 320 --batch-size 32 --dist-timeout 2";
  expect_one_line_error(run(train, "WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500"), "RANK=2 must be an integer in [0, 1]");
  expect_one_line_error(run(train, "WORLD_SIZE=2 RANK=0 MASTER_PORT=29500"), "MASTER_ADDR is not set");
  expect_one_line_error(run(train, "WORLD_SIZE=3 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500"),
                        "--batch-size 32 (the global batch) is not divisible by WORLD_SIZE 3");
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  const int port = free_port();
  // no rank 1: rank 0 names it after the timeout; no rank 0: rank 1 cannot reach the rendezvous
  expect_one_line_error(run(train, "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port)),
                        "rank(s) 1 of WORLD_SIZE 2 did not join the rendezvous at 127.0.0.1:" + std::to_string(port));
  expect_one_line_error(run(train, "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port)),
                        "rank 1 of 2 cannot reach the rendezvous at 127.0.0.1:" + std::to_string(port));
  // a port another program listens on
  const int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  const int taken = free_port();
  addr.sin_port = htons(taken);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  expect_one_line_error(run(train, "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(taken)),
                        "rank 0 cannot serve the rendezvous on 127.0.0.1:" + std::to_string(taken) + ": the port is in use");
  close(busy);
  expect_one_line_error(run("launch --nproc 2 -- eval --checkpoint x"), "eshift launch runs `train`");
  expect_one_line_error(run("eval --checkpoint x", "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1"),
                        "eshift eval runs as one process, but WORLD_SIZE=2 is set");
}

// Two "machines": network namespaces joined by a veth pair, one rank in each (eshift launch
// --nnodes 2), the interface chosen with GLOO_SOCKET_IFNAME.
TEST(DataParallelCli, TwoNetworkNamespacesTrainLikeOneProcess) {
  if (!have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  const std::string a = "eshA" + std::to_string(getpid()), b = "eshB" + std::to_string(getpid());
  auto sh = [](const std::string& cmd) { return std::system((cmd + " > /dev/null 2>&1").c_str()); };
  if (sh("ip netns add " + a) != 0) GTEST_SKIP() << "cannot create network namespaces here (needs root and iproute2)";
  sh("ip netns add " + b);
  const std::string va = "va" + std::to_string(getpid() % 100000), vb = "vb" + std::to_string(getpid() % 100000);
  const bool linked = sh("ip link add " + va + " type veth peer name " + vb) == 0 && sh("ip link set " + va + " netns " + a) == 0 &&
                      sh("ip link set " + vb + " netns " + b) == 0 &&
                      sh("ip -n " + a + " addr add 10.77.0.1/24 dev " + va) == 0 && sh("ip -n " + a + " link set " + va + " up") == 0 &&
                      sh("ip -n " + a + " link set lo up") == 0 && sh("ip -n " + b + " addr add 10.77.0.2/24 dev " + vb) == 0 &&
                      sh("ip -n " + b + " link set " + vb + " up") == 0 && sh("ip -n " + b + " link set lo up") == 0;
  if (linked) {
    TempDir one, two, io;
    const std::string flags = kExact + " --norm gn --gn-groups 4 --el2 --epochs 1 --dist-timeout 30";
    ASSERT_EQ(run("train" + flags + " --out " + one.path).code, 0);
    auto node = [&](const std::string& ns, const std::string& dev, int rank, const std::string& out) {
      return "ip netns exec " + ns + " env GLOO_SOCKET_IFNAME=" + dev + " " + ESHIFT_BINARY +
             " launch --nnodes 2 --node-rank " + std::to_string(rank) + " --nproc 1 --master-addr 10.77.0.1 --master-port 29500 -- train" +
             flags + " --out " + out;
    };
    const std::string cmd = "(" + node(b, vb, 1, two.path) + " > " + (io / "b.out") + " 2>&1 &); " + node(a, va, 0, two.path) +
                            " > " + (io / "a.out") + " 2>&1";
    const int status = std::system(cmd.c_str());
    EXPECT_EQ(status, 0) << slurp(io / "a.out") << slurp(io / "b.out");
    if (status == 0) {
      EXPECT_LT(largest_difference(one / "checkpoint.pt", two / "checkpoint.pt"), 1e-10);
    }
  }
  sh("ip netns del " + a);
  sh("ip netns del " + b);
  if (!linked) GTEST_SKIP() << "cannot join network namespaces with a veth pair here";
}
