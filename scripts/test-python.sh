#!/usr/bin/env bash
# make test-python: the Python package (python/eshift, README "From Python") built against the torch
# of a virtual environment (pip's, made by install-torch2.sh when the environment has none) and its
# pytest suite (python/tests). pytest and torchvision (the tests' models) are added to the
# environment, torchvision at the version that goes with its torch.
#   usage: scripts/test-python.sh VENV_DIR    (ESHIFT_PY_OPT: the extension's -O level; MAX_JOBS: compile jobs)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: test-python.sh VENV_DIR}

"$venv/bin/python" -c 'import torch' 2>/dev/null || bash scripts/install-torch2.sh "$venv"
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
# the build's tools (a setuptools that builds wheels by itself, ninja for parallel compiles) and the
# tests' (pytest, torchvision)
if ! "$venv/bin/python" -c '
import importlib.metadata as m, ninja, pytest, torchvision
assert int(m.version("setuptools").split(".")[0]) >= 70' 2>/dev/null; then
  echo "test-python: pip install setuptools ninja pytest torchvision (for torch $torch_version) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "setuptools>=70" ninja pytest torchvision \
    "torch==$torch_version"
fi
echo "test-python: building eshift's Python package against torch $torch_version (${ESHIFT_PY_OPT:--O2})"
# a plain `pip install .`, as the README tells users (pip isolates the build; setup.py finds the torch)
PATH="$(cd "$venv" && pwd)/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check .
cd python/tests
exec "../../$venv/bin/python" -m pytest -q -p no:cacheprovider
