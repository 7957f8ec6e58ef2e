#!/usr/bin/env bash
# What scripts/gpu-check.sh needs that a GPU machine without internet lacks, gathered here into
# .gpu-deps/ (git-ignored; about 45 MB): the Debian packages of eshift's build dependencies other
# than LibTorch (downloaded, not installed: gpu-check.sh unpacks them into a private prefix) and a
# copy of Fashion-MNIST for the CLI tests. Run on this project's Debian machine; safe to rerun.
#   usage: scripts/gpu-deps.sh [DIR]   (default .gpu-deps)
set -euo pipefail
dir=${1:-.gpu-deps}
packages=(zlib1g libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32 protobuf-compiler zlib1g-dev
          nlohmann-json3-dev libcli11-dev libgtest-dev libboost1.81-dev libgloo-dev)
mkdir -p "$dir/debs" "$dir/fashion-mnist"
(cd "$dir/debs" && apt-get download "${packages[@]}")
cp -u /usr/share/datasets/fashion-mnist/*.gz "$dir/fashion-mnist/"
du -sh "$dir"
