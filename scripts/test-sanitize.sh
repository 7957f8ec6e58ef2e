#!/usr/bin/env bash
# make test-sanitize: the whole test suite (and the eshift binary the CLI tests run) built with
# AddressSanitizer + UndefinedBehaviorSanitizer (g++), run under ctest. Any report fails its test.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${JOBS:-$(nproc)}
bash scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESHIFT_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j "$jobs"
# leak checking is on; scripts/lsan.supp is where library-owned allocations would be suppressed
# (none were needed with Debian's LibTorch 1.13)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Left out here (they run in make test and make test-torch2): four long end-to-end runs whose code the
# shorter CLI tests run under the sanitizers too. Their seconds under the sanitizers on a 2-core VM
# (2026-12-01): kill -9 at ten points then resume 233 (the resume path: Cli.ResumedRunEndsWithTheSameWeights,
# the full-disk and torchrun-restart tests), a launched run's accuracy 115 (DataParallelCli's two-process
# tests), six optimizers through the CLI 95 (the optimizer unit tests), the σ-collapse warning's two
# runs 85 (CliDemo and the CollapseWatch unit tests); about 4.4 minutes of this stage's 14. Also
# Mask R-CNN's three training runs through the CLI (the MaskRcnn unit tests train and evaluate the
# same model under the sanitizers).
skip='^(CliRobustness\.KillNineAnywhere|DataParallelCli\.LaunchedRunTrainsToTheAccuracy|CliOptimizers\.EachOptimizerTrains|Cli\.PlainL2DrivingSigmaBelowEps|CliCoco\.MaskRcnnTrains)'
cd "$build" && OMP_NUM_THREADS=1 ctest --output-on-failure -j "$jobs" -E "$skip"
