#!/usr/bin/env python3
"""eshift's TensorBoard event files read by TensorBoard itself (`make interop`).

Runs a short `eshift train` (epochs, probes every 2 steps, top-5) and reads its event file with
TensorBoard's own readers. The file: exactly one `events.out.tfevents.*` in the run directory, read
to its last byte by TensorBoard's record reader (it stops silently at a bad CRC or a torn record),
the first event `file_version: "brain.Event:2"` (with anything older TensorBoard's accumulator purges
"out-of-order" steps), every later event one summary value carrying simple_value. The scalars:
tensorboard.backend.event_processing.event_accumulator, every scalar kept. The expected side comes
from metrics.jsonl, which eshift writes beside it as JSON doubles from the same records: each jsonl
field maps to the tag eshift gives it (the table below, as src/observe/metrics_log.cpp writes them).
Asserts the same (tag, step) pairs on both sides and each value equal to the jsonl double rounded to
float32 (TensorBoard's simple_value). Exits 1 naming each difference's tag and step. --self-check
then corrupts copies (one value and one line of metrics.jsonl, one byte of the event file) and
requires each to be reported.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorboard
from tensorboard.backend.event_processing import event_accumulator, event_file_loader

# metrics.jsonl "epoch" line field → TensorBoard tag
EPOCH_TAGS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "train_acc5": "train/top5_accuracy",
              "test_loss": "test/loss", "test_acc": "test/accuracy", "test_acc5": "test/top5_accuracy",
              "lr": "lr", "sigma_min": "sigma/min_all_convs", "sigma_mean": "sigma/mean_all_convs",
              "sigma_below_share": "sigma/share_below_threshold"}
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


def event_file(run_dir):
    files = sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
    if len(files) != 1:
        raise SystemExit(f"FAIL: {len(files)} event files in {run_dir}, expected exactly 1: {files}")
    return files[0]


def check_event_file(path):
    """Problems with the event file as TensorBoard's record reader and parser see it."""
    records = list(event_file_loader.RawEventFileLoader(path).Load())
    consumed, size = sum(8 + 4 + len(r) + 4 for r in records), os.path.getsize(path)
    problems = []
    if consumed != size:  # TensorBoard swallows a DataLossError and ends the file there
        problems.append(f"{path}: TensorBoard's record reader stopped after {len(records)} records, "
                        f"{consumed} of {size} bytes (bad CRC or torn record)")
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())  # TensorBoard's parse of each record
    first = events[0].WhichOneof("what") if events else None
    if first != "file_version" or events[0].file_version != "brain.Event:2":
        seen = repr(events[0].file_version) if first == "file_version" else repr(first)
        problems.append(f"{path}: the first event is {seen}, TensorBoard expects file_version 'brain.Event:2'")
    for i, e in enumerate(events[1:], start=1):
        kinds = [v.WhichOneof("value") for v in e.summary.value] if e.WhichOneof("what") == "summary" else []
        if kinds != ["simple_value"]:
            problems.append(f"{path}: event {i} (step {e.step}) is {e.WhichOneof('what')!r} with values {kinds}, "
                            "expected one simple_value scalar")
    return problems


def tensorboard_scalars(run_dir):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    if acc.file_version != 2.0:
        raise SystemExit(f"FAIL: TensorBoard's accumulator read file_version {acc.file_version}, expected 2")
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
            problems.append(f"tag {key[0]} step {key[1]}: TensorBoard reads {read[key]!r}, metrics.jsonl has {want!r} (as float32)")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eshift", help="the binary that makes the short run (in OUT/tensorboard_run)")
    parser.add_argument("--out")
    parser.add_argument("--run-dir", help="check this existing run directory instead of making one")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--self-check", action="store_true")
    args = parser.parse_args()
    if args.run_dir:
        run_dir = args.run_dir
    elif args.eshift and args.out:
        run_dir = os.path.join(args.out, "tensorboard_run")
        subprocess.run(["rm", "-rf", run_dir], check=True)
        subprocess.run([args.eshift, "train", "--data-dir", args.data_dir, "--model", "resnet8", "--width", "4",
                        "--train-subset", "256", "--test-subset", "128", "--batch-size", "32", "--epochs", "2",
                        "--probe-every", "2", "--top5", "--el2", "--threads", "2", "--out", run_dir],
                       check=True, stdout=subprocess.DEVNULL)
    else:
        parser.error("give --eshift and --out, or --run-dir")
    metrics = os.path.join(run_dir, "metrics.jsonl")
    path = event_file(run_dir)
    problems = check_event_file(path)
    expected = expected_scalars(metrics)
    read = tensorboard_scalars(run_dir)
    problems += compare(expected, read)
    tags = {tag for tag, _ in read}
    if problems:
        print(f"FAIL: tensorboard {tensorboard.__version__} read {len(read)} scalars under {len(tags)} tags, "
              f"{len(problems)} problems:")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"PASS tensorboard {tensorboard.__version__} read {len(read)} scalars under {len(tags)} tags "
          f"(epochs and probes of {run_dir}): every tag, step and value matches metrics.jsonl")
    if args.self_check:
        return self_check(metrics, path, read)
    return 0


def self_check(metrics, path, read):
    """The checks must notice a changed value, a missing line and a damaged event file (in copies)."""
    lines = open(metrics).read().splitlines(keepends=True)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # one value of a probe line's layer, as metrics.jsonl would hold it had eshift written another
        probe_at = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "probe")
        r = json.loads(lines[probe_at])
        layer = r["layers"][len(r["layers"]) // 2]
        layer["effective_lr"] = layer["effective_lr"] * 1.001 + 1e-6
        want = f"tag effective_lr/{layer['name']} step {r['step']}:"
        changed = os.path.join(tmp, "changed.jsonl")
        open(changed, "w").writelines(lines[:probe_at] + [json.dumps(r) + "\n"] + lines[probe_at + 1:])
        if not any(p.startswith(want) for p in compare(expected_scalars(changed), read)):
            failures.append(f"a changed value ({want[:-1]}) was not reported")
        # the last epoch line gone: its scalars are in the event file only
        at = max(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "epoch")
        dropped = os.path.join(tmp, "dropped.jsonl")
        open(dropped, "w").writelines(lines[:at] + lines[at + 1:])
        want = f"in the event file but not in metrics.jsonl: tag test/accuracy step {json.loads(lines[at])['step']}"
        if want not in compare(expected_scalars(dropped), read):
            failures.append(f"a dropped metrics.jsonl line was not reported ({want})")
        # one byte of a record in the middle of the event file flipped: TensorBoard stops reading there
        damaged = os.path.join(tmp, os.path.basename(path))
        shutil.copyfile(path, damaged)
        data = bytearray(open(damaged, "rb").read())
        data[len(data) // 2] ^= 0x01
        open(damaged, "wb").write(data)
        if not check_event_file(damaged):
            failures.append("a flipped byte in the event file was not reported")
    if failures:
        for f in failures:
            print("FAIL self-check: " + f)
        return 1
    print("PASS self-check: a changed metrics.jsonl value, a dropped metrics.jsonl line and a flipped "
          "event-file byte are each reported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
