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
# Left out here (make test runs them): the long end-to-end runs of tests/long_end_to_end.txt, whose
# code shorter tests run under the sanitizers too.
skip=$(grep -v '^#' tests/long_end_to_end.txt | paste -sd'|' -)
cd "$build" && OMP_NUM_THREADS=1 ctest --output-on-failure -j "$jobs" -E "^($skip)"
