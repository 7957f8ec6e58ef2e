#!/usr/bin/env bash
# The GPU check, in one go, on a machine with an NVIDIA GPU, PyTorch (CUDA build), nvcc and CMake:
#   1. builds eshift against that PyTorch's LibTorch (CUDA enabled: ESHIFT_CUDA)
#   2. runs the whole test suite there: the Cuda.* and GradScalerOn.*/cuda tests run on the GPU
#   3. times WS-ResNet-50 training steps at 224², batch 128, synthetic data, in float32, bfloat16 and
#      float16, eshift (probes on) against PyTorch eager and torch.compile (bench/gpu_table.py)
#   4. if time is left: `eshift experiment collapse --amp fp16` (the paper's float16 claim: steps the
#      loss scaler skips under plain L2 and under the ε-shift) on Fashion-MNIST
# and writes summary.txt (with the machine), build.log, tests.log, bench.log, table.md, results.jsonl
# and collapse.md to OUT_DIR.
# Each part gets what is left of GPU_CHECK_SECONDS (default 540) minus what the later parts need, so
# the whole ends inside it (on a 16-core H100 machine: unpacking 15 s, the build 106 s, the suite
# about 25 s, the table about 150 s).
#
# A machine without internet gets the other build dependencies from .gpu-deps/ (made on the Debian
# machine by scripts/gpu-deps.sh: Debian packages, unpacked here into a private prefix, not
# installed, and Fashion-MNIST for the CLI tests).
#   usage: scripts/gpu-check.sh [OUT_DIR]     (default: $OUT, else gpu-check-out)
#          GPU_CHECK_TESTS_ONLY=1 stops after the tests
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-check-out}}
mkdir -p "$out"
start=$SECONDS
budget=${GPU_CHECK_SECONDS:-540}
say() { echo "[gpu-check +$((SECONDS - start))s] $*" | tee -a "$out/summary.txt"; }
# seconds left once $1 are kept for later parts (at least 10: timeout refuses a negative limit)
left() { local s=$((budget - (SECONDS - start) - $1)); echo $((s < 10 ? 10 : s)); }
python=${PYTHON:-python3}
jobs=$(nproc)

# ------------------------------------------------------------------ the machine
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
  g++ --version | head -1; cmake --version | head -1; nvcc --version | tail -1; (ninja --version || true)
  grep PRETTY_NAME /etc/os-release; echo "cores: $jobs"
} > "$out/summary.txt" 2>&1
cat "$out/summary.txt"
torch_dir=$($python -c 'import os, torch; print(os.path.dirname(torch.__file__))') || { say "no PyTorch in $python"; exit 1; }

# ------------------------------------------------------------------ dependencies
prefix_path="$torch_dir;$torch_dir/share/cmake"
cmake_args=()
test_data=/usr/share/datasets/fashion-mnist
if [ -d .gpu-deps/debs ]; then
  deps=/tmp/eshift-gpu-deps
  rm -rf "$deps" && mkdir -p "$deps"
  for deb in .gpu-deps/debs/*.deb; do dpkg -x "$deb" "$deps"; done
  # the packages' absolute links (libz.so → /lib/…) point into the prefix instead
  find "$deps" -type l | while read -r link; do
    target=$(readlink "$link")
    case $target in /*) [ -e "$deps$target" ] && ln -sfn "$deps$target" "$link" ;; esac
  done
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  prefix_path="$prefix_path;$deps/usr"
  # protobuf's headers from the package too, not the copy in <torch>/include
  cmake_args+=(-DProtobuf_PROTOC_EXECUTABLE="$deps/usr/bin/protoc" -DProtobuf_INCLUDE_DIR="$deps/usr/include"
               -DZLIB_ROOT="$deps/usr")
  say "build dependencies unpacked from .gpu-deps/debs into $deps"
fi
[ -d .gpu-deps/fashion-mnist ] && test_data=$PWD/.gpu-deps/fashion-mnist

# ------------------------------------------------------------------ build
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}  # Hopper; LibTorch's CMake asks
if ! { cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix_path" \
         -DESHIFT_TEST_DATA_DIR="$test_data" "${cmake_args[@]}" &&
       timeout "$(left 240)" cmake --build build-gpu -j "$jobs"; } > "$out/build.log" 2>&1; then
  say "BUILD FAILED (build.log):"
  grep -m 10 -E "error|Error" "$out/build.log" | tee -a "$out/summary.txt"
  exit 1
fi
say "built: $(grep -m1 'eshift: LibTorch' "$out/build.log")"

# ------------------------------------------------------------------ tests
# one thread a test, one test a core: processes of all-core OpenMP pools side by side would crawl
exclude=()
if ! command -v gnuplot >/dev/null; then
  exclude=(-E '^Report\.')  # the figures need gnuplot, which such a machine lacks
  say "gnuplot missing: the Report.* tests (figures) are left out here"
fi
(cd build-gpu && OMP_NUM_THREADS=1 timeout "$(left 170)" ctest -j "$jobs" --timeout 150 --output-on-failure "${exclude[@]}") \
  > "$out/tests.log" 2>&1
tests_rc=$?
say "tests (exit $tests_rc): $(grep -E 'tests passed|tests failed' "$out/tests.log" | tail -1)"
say "  on the GPU: $(grep -cE 'Test +#[0-9]+: (Cuda\.|Devices/GradScalerOn\..*/cuda).*Passed' "$out/tests.log") CUDA tests passed, $(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$out/tests.log") skipped"
grep -E '\*\*\*Failed|\*\*\*Timeout' "$out/tests.log" | tee -a "$out/summary.txt"

if [ -n "${GPU_CHECK_TESTS_ONLY:-}" ]; then say "done in $((SECONDS - start)) s (tests only)"; exit "$tests_rc"; fi

# ------------------------------------------------------------------ eshift vs PyTorch
PYTHONUNBUFFERED=1 timeout "$(left 5)" $python bench/gpu_table.py build-gpu/eshift "$out" --timeout 150 2>&1 |
  tee "$out/bench.log"
table_rc=${PIPESTATUS[0]}
say "table (exit $table_rc) in $out/table.md"

# ------------------------------------------------------------------ the float16 claim
if [ -e "$test_data/train-images-idx3-ubyte.gz" ] && [ "$(left 0)" -ge 90 ]; then
  rm -rf /tmp/eshift-gpu-collapse
  timeout "$(left 5)" build-gpu/eshift experiment collapse --device cuda --amp fp16 --data-dir "$test_data" \
    --out /tmp/eshift-gpu-collapse > /tmp/eshift-gpu-collapse.log 2>&1
  say "collapse --amp fp16 (exit $?): $(grep -m1 'skipped by the float16' /tmp/eshift-gpu-collapse.log)"
  cp /tmp/eshift-gpu-collapse/summary.md "$out/collapse.md" 2>/dev/null || tail -5 /tmp/eshift-gpu-collapse.log >> "$out/summary.txt"
else
  say "collapse --amp fp16 not run: no Fashion-MNIST or under 90 s left"
fi
say "done in $((SECONDS - start)) s"
[ "$tests_rc" -eq 0 ] && [ "$table_rc" -eq 0 ]
