#!/usr/bin/env bash
# Installs, with apt-get, every Debian 12 package eshift needs that is not installed yet.
# Safe to run repeatedly: when everything is present it only checks and returns.
# Arguments: further packages an optional target needs (make fuzz: clang and libFuzzer).
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev            # LibTorch 1.13 (C++ API, ATen, autograd)
  libopenblas0-openmp     # without it LibTorch links the reference BLAS (~30x slower GEMM)
  dataset-fashion-mnist   # the default data: /usr/share/datasets/fashion-mnist
  libgtest-dev googletest # tests
  libcli11-dev            # command line parsing
  nlohmann-json3-dev      # metrics.jsonl, checkpoint metadata
  zlib1g-dev              # reading .gz IDX files
  libprotobuf-dev protobuf-compiler  # TensorBoard event records
  libboost-dev            # Boost.CRC (CRC32C of TensorBoard records and checkpoints)
  libturbojpeg0-dev libjpeg62-turbo-dev  # JPEG decoding (libjpeg-turbo): ImageNet-style folders
  libgloo-dev             # the headers LibTorch's ProcessGroupGloo needs (data-parallel training)
  iproute2                # ip netns: the two-machine data-parallel test
  gnuplot-nox             # figures of eshift report / experiments
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
