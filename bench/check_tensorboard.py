#!/usr/bin/env python3
"""eshift's TensorBoard event files read by TensorBoard itself (`make interop`).

Runs a short `eshift train` (epochs, probes every 2 steps, top-5) and reads its event file with
TensorBoard's own reader (tensorboard.backend.event_processing.event_accumulator, every scalar
kept). The expected side comes from metrics.jsonl, which eshift writes beside it from the same
records: each jsonl field maps to the tag eshift gives it (the table below, as
src/observe/metrics_log.cpp writes them). Asserts the same (tag, step) pairs on both sides and each
value equal to the jsonl double rounded to float32 (TensorBoard's simple_value). Exits 1 naming the
first differences; --self-check also corrupts one value in a copy of the event data's expectation
and requires the check to fail.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorboard
from tensorboard.backend.event_processing import event_accumulator

# metrics.jsonl "epoch" line field → TensorBoard tag
EPOCH_TAGS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "train_acc5": "train/top5_accuracy",
              "test_loss": "test/loss", "test_acc": "test/accuracy", "test_acc5": "test/top5_accuracy",
              "lr": "lr", "sigma_min": "sigma/min_all_convs", "sigma_mean": "sigma/mean_all_convs"}
# "probe" line field → tag; and per layer ("layers": [...]) field → tag prefix + layer name
PROBE_TAGS = {"sigma_min": "probe/sigma_min", "effective_lr_median": "probe/effective_lr_median",
              "angular_update_median": "probe/angular_update_median", "grad_max_abs": "probe/grad_max_abs",
              "fp16_ratio": "probe/fp16_ratio", "loss_scale": "probe/loss_scale",
              "fp16_scaled_ratio": "probe/fp16_scaled_ratio", "fp16_overflow_steps": "probe/fp16_overflow_steps",
              "frac_sigma_below_eps": "probe/frac_sigma_below_eps"}
LAYER_TAGS = {("sigma", "median"): "sigma_median/", ("norm", "median"): "norm_median/",
              "effective_lr": "effective_lr/", "angular_update": "angular_update/", "grad_max_abs": "grad_max_abs/"}


def expected_scalars(metrics_path):
    """{(tag, step): value} from metrics.jsonl; the fields eshift writes to TensorBoard."""
    out = {}
    for line in open(metrics_path):
        r = json.loads(line)
        step = r["step"]
        if r["kind"] == "epoch":
            for field, tag in EPOCH_TAGS.items():
                if field in r:
                    out[(tag, step)] = r[field]
            for field in ("skipped_steps", "loss_scale"):  # --amp extras: "amp/<name>"
                if field in r:
                    out[("amp/" + field, step)] = r[field]
        elif r["kind"] == "probe":
            for field, tag in PROBE_TAGS.items():
                if field in r:
                    out[(tag, step)] = r[field]
            for layer in r["layers"]:
                for field, prefix in LAYER_TAGS.items():
                    value = layer[field[0]][field[1]] if isinstance(field, tuple) else layer[field]
                    out[(prefix + layer["name"], step)] = value
    return out


def tensorboard_scalars(run_dir):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        for event in acc.Scalars(tag):
            if (tag, event.step) in out:
                raise SystemExit(f"FAIL: TensorBoard holds ({tag}, step {event.step}) twice")
            out[(tag, event.step)] = event.value
    return out


def compare(expected, read):
    problems = []
    for key in sorted(set(expected) - set(read)):
        problems.append(f"missing in the event file: tag {key[0]} step {key[1]}")
    for key in sorted(set(read) - set(expected)):
        problems.append(f"in the event file but not in metrics.jsonl: tag {key[0]} step {key[1]}")
    for key in sorted(set(expected) & set(read)):
        want = float(np.float32(expected[key]))
        if not (read[key] == want or (np.isnan(want) and np.isnan(read[key]))):
            problems.append(f"tag {key[0]} step {key[1]}: TensorBoard reads {read[key]!r}, eshift wrote {want!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eshift", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--self-check", action="store_true")
    args = parser.parse_args()
    run_dir = os.path.join(args.out, "tensorboard_run")
    subprocess.run(["rm", "-rf", run_dir], check=True)
    subprocess.run([args.eshift, "train", "--data-dir", args.data_dir, "--model", "resnet8", "--width", "4",
                    "--train-subset", "256", "--test-subset", "128", "--batch-size", "32", "--epochs", "2",
                    "--probe-every", "2", "--top5", "--el2", "--threads", "2", "--out", run_dir],
                   check=True, stdout=subprocess.DEVNULL)
    expected = expected_scalars(os.path.join(run_dir, "metrics.jsonl"))
    read = tensorboard_scalars(run_dir)
    problems = compare(expected, read)
    tags = {tag for tag, _ in read}
    if problems:
        print(f"FAIL: tensorboard {tensorboard.__version__} read {len(read)} scalars under {len(tags)} tags, "
              f"{len(problems)} differences:")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"PASS tensorboard {tensorboard.__version__} read {len(read)} scalars under {len(tags)} tags "
          f"(epochs and probes of {run_dir}): every tag, step and value matches metrics.jsonl")
    if args.self_check:  # the comparison must notice one changed value and one missing scalar
        key = sorted(expected)[len(expected) // 2]
        changed = dict(expected)
        changed[key] = expected[key] * 1.001 + 1e-6
        dropped = dict(read)
        dropped.pop(sorted(read)[0])
        if not compare(changed, read) or not compare(expected, dropped):
            print("FAIL: the self-check's corrupted expectation was not noticed")
            return 1
        print("PASS self-check: a changed value and a missing scalar are both reported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
