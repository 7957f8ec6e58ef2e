#!/usr/bin/env bash
# make interop: eshift's import of PyTorch weights against PyTorch (bench/interop.py), and eshift's
# TensorBoard event files read by TensorBoard itself (bench/check_tensorboard.py), and eshift's COCO
# evaluation (detect-eval) against pycocotools (bench/coco_interop.py), and eshift's Mask R-CNN against
# torchvision's maskrcnn_resnet50_fpn (bench/maskrcnn_interop.py), in a virtual environment with
# pip's torch + torchvision (CPU wheels from download.pytorch.org when that index is reachable, else
# PyPI's), tensorboard, pycocotools and faster-coco-eval. Safe to rerun: an environment that has them
# is reused.
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
if ! "$venv/bin/python" -c 'import tensorboard' >/dev/null 2>&1; then
  echo "interop: pip install tensorboard into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check tensorboard
fi
if ! "$venv/bin/python" -c 'import pycocotools, faster_coco_eval' >/dev/null 2>&1; then
  echo "interop: pip install pycocotools faster-coco-eval into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pycocotools faster-coco-eval
fi
$venv_only && exit 0
binary=${2:?usage: interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR}
out=${3:?usage: interop.sh VENV_DIR ESHIFT_BINARY OUT_DIR}
shift 3
status=0
"$venv/bin/python" bench/interop.py --eshift "$binary" --out "$out" "$@" || status=1
"$venv/bin/python" bench/check_tensorboard.py --eshift "$binary" --out "$out" --self-check || status=1
"$venv/bin/python" bench/coco_interop.py --eshift "$binary" --dir "$out/coco" || status=1
"$venv/bin/python" bench/maskrcnn_interop.py --eshift "$binary" --out "$out/maskrcnn" || status=1
exit $status
