#!/usr/bin/env bash
# make fuzz: builds eshift's libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer
# + coverage), writes their seed corpora (valid files of each format), and runs each target for
# FUZZ_SECONDS (default 60). The corpus grows in BUILD/fuzz-corpus/<target> from run to run; inputs
# that crash land in BUILD/fuzz-crashes/ (turn each into a test, then fix it).
#   FUZZ_SECONDS=600 make fuzz          longer runs
#   FUZZ_TARGETS="idx cli" make fuzz    some targets only (all: idx checkpoint event_file cli cifar jpeg pickle coco)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(${FUZZ_TARGETS:-idx checkpoint event_file cli cifar jpeg pickle coco})
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh clang libclang-rt-dev
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESHIFT_SANITIZE=fuzzer \
  -DESHIFT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}")
rm -rf "$build/fuzz-seeds"
"$build/fuzz_seeds" "$build/fuzz-seeds"
mkdir -p "$build/fuzz-crashes"

summary=""
status=0
for t in "${targets[@]}"; do
  mkdir -p "$build/fuzz-corpus/$t"
  log="$build/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  # LibTorch's own allocations are not leaks of eshift's: leak checking is off here (test-sanitize has it)
  if ASAN_OPTIONS=detect_leaks=0 "$build/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$t-" \
      "$build/fuzz-corpus/$t" "$build/fuzz-seeds/$t" >"$log" 2>&1; then
    result="no crash"
  else
    result="CRASH: $(ls -t "$build"/fuzz-crashes/"$t"-* 2>/dev/null | head -1)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(ls "$build/fuzz-corpus/$t" | wc -l)
  summary+=$(printf '%-11s %10s executions  %5s corpus files  %s' "$t" "$runs" "$corpus" "$result")$'\n'
done
echo
echo "fuzz summary (${seconds}s a target):"
printf '%s' "$summary"
exit $status
