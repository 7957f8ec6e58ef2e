#!/bin/bash
# The search for claim 2's under-fitting (issue 13): identical `eshift train` runs on all of
# Fashion-MNIST that differ only by decay on the conv weights (plain L2 λ, or none), over a grid
# of learning rates and λ, without augmentation (the training loss measures fitting only),
# constant learning rate, no decay on BN γ / the classifier in either arm. Prints the table of
# final training losses (scripts/underfit_summary.py) when done; a run already finished is kept.
#
#   scripts/underfit_search.sh OUT_DIR
#   LRS="0.01 0.1" LAMS="5e-4 5e-3 5e-2" SEEDS="0 1 2" EPOCHS=6 MODEL=resnet8 WIDTH=8 THREADS=1 \
#     scripts/underfit_search.sh OUT_DIR
set -euo pipefail
out=${1:?usage: scripts/underfit_search.sh OUT_DIR}
eshift=${ESHIFT:-$(dirname "$0")/../build/eshift}
lrs=${LRS:-"0.01 0.1"}
lams=${LAMS:-"5e-4 5e-3 5e-2"}
seeds=${SEEDS:-0}
epochs=${EPOCHS:-6}
model=${MODEL:-resnet8}
width=${WIDTH:-8}
threads=${THREADS:-1}
mkdir -p "$out"
# a private copy of the binary: a rebuild during the search (the link replaces build/eshift) must not stop it
cp "$eshift" "$out/.eshift.$$"
trap 'rm -f "$out/.eshift.$$"' EXIT
eshift="$out/.eshift.$$"

run() {  # name, extra flags...
  local name=$1; shift
  if [ -f "$out/$name/metrics.jsonl" ] && [ "$(grep -c '"kind":"epoch"' "$out/$name/metrics.jsonl")" -ge "$epochs" ]; then
    return
  fi
  rm -rf "${out:?}/$name"
  echo "== $name" >&2
  "$eshift" train --model "$model" --width "$width" --epochs "$epochs" --crop-padding 0 --no-flip \
    --threads "$threads" --probe-every 100 --nowd-bn --nowd-fc --out "$out/$name" "$@" > "$out/$name.log" 2>&1
}

for seed in $seeds; do
  for lr in $lrs; do
    run "lr${lr}_none_s${seed}" --lr "$lr" --seed "$seed" --nowd-conv
    for lam in $lams; do
      run "lr${lr}_l2${lam}_s${seed}" --lr "$lr" --seed "$seed" --wd "$lam"
    done
  done
done
python3 "$(dirname "$0")/underfit_summary.py" "$out"
