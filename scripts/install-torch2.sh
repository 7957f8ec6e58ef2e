#!/usr/bin/env bash
# A current LibTorch 2.x for `make test-torch2`: pip's torch wheel, which carries LibTorch (built
# with CUDA, so it is also eshift's CUDA build), in a virtual environment of its own. Pinned so a
# run is repeatable; TORCH2_VERSION=x.y.z picks another. Safe to rerun: returns at once when the
# environment already holds that version.
#   usage: scripts/install-torch2.sh VENV_DIR
set -euo pipefail
venv=${1:?usage: install-torch2.sh VENV_DIR}
version=${TORCH2_VERSION:-2.15.0}

if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$version" <<'PY' 2>/dev/null; then
import sys, importlib.metadata as m
sys.exit(0 if m.version("torch") == sys.argv[1] else 1)
PY
  echo "install-torch2: torch $version present in $venv"
  exit 0
fi

bash scripts/install-deps.sh python3-venv  # python3 -m venv needs it
echo "install-torch2: pip install torch==$version into $venv (about 3 GB with its CUDA libraries)"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$version"
