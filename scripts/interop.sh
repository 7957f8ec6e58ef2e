#!/usr/bin/env bash
# make interop: eshift's import of PyTorch weights against PyTorch (bench/interop.py), in a virtual
# environment with pip's torch + torchvision (CPU wheels from download.pytorch.org when that index
# is reachable, else PyPI's). Safe to rerun: an environment that imports both is reused.
#   usage: scripts/interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR [bench/interop.py flags]
#          scripts/interop.sh --venv-only VENV_DIR   (only the environment: make bench-loader)
set -euo pipefail
venv_only=false
if [ "${1:-}" = --venv-only ]; then venv_only=true; shift; fi
venv=${1:?usage: interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR}

if ! "$venv/bin/python" -c 'import torch, torchvision' >/dev/null 2>&1; then
  bash scripts/install-deps.sh python3-venv  # python3 -m venv needs it
  echo "interop: pip install torch torchvision into $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchvision \
      --index-url https://download.pytorch.org/whl/cpu ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchvision
fi
$venv_only && exit 0
binary=${2:?usage: interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR}
out=${3:?usage: interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR}
shift 3
exec "$venv/bin/python" bench/interop.py --eshift "$binary" --out "$out" "$@"
