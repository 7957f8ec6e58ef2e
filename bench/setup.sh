#!/usr/bin/env bash
# The benchmark's own set-up (not part of `make test`): Debian's PyTorch for bench/reference.py,
# Google Benchmark for the micro-benchmarks.
set -euo pipefail
missing=()
for p in python3-torch libbenchmark-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
