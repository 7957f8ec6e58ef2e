#!/usr/bin/env python3
"""Data-parallel scaling on this machine (make bench, or make bench-scaling alone).

Same global batch, same data, same model (WS-ResNet-20 + BN, ε-shifted L2, Fashion-MNIST; the
2-process runs with --bucket-mb 0.25, several buckets for this small model):
  1 process  x 2 threads           eshift train --threads 2
  2 processes x 1 thread (overlap)  eshift launch --nproc 2 -- train --threads 1
  2 processes x 1 thread, all-reduce after backward (--no-dist-overlap)
Each repetition runs the three back to back (order rotating); the figure of a run is its second
epoch (warm): training images / epoch seconds (the epoch's small evaluation included), and the
share of the epoch rank 0 spent waiting for gradient all-reduces after backward
(allreduce_wait_seconds in metrics.jsonl). Prints medians (min-max) and the ratio 2x1 / 1x2 per
repetition.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary, mode, args, data_dir):
    with tempfile.TemporaryDirectory() as out:
        flags = ["--data", "fashion-mnist", "--data-dir", data_dir, "--train-subset", str(args.images),
                 "--test-subset", "500", "--batch-size", str(args.batch), "--epochs", "2", "--el2",
                 "--probe-every", "0", "--out", out, "--model", args.model]
        if mode == "1x2":
            cmd = [binary, "train"] + flags + ["--threads", "2"]
        else:
            cmd = [binary, "launch", "--nproc", "2", "--", "train"] + flags + ["--threads", "1", "--bucket-mb", str(args.bucket_mb)]
            if mode == "2x1-no-overlap":
                cmd.append("--no-dist-overlap")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            epochs = [json.loads(line) for line in f if '"kind":"epoch"' in line]
        last = epochs[-1]
        seconds = last["seconds"]
        wait = last.get("allreduce_wait_seconds", 0.0)
        return args.images // args.batch * args.batch / seconds, wait / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(HERE, "..", "build", "eshift"))
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--images", type=int, default=5120)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--model", default="resnet20")
    # WS-ResNet-20 holds 1.1 MB of float32 parameters: 25 MiB buckets would make one bucket, ready
    # only at the end of backward, and nothing to overlap
    p.add_argument("--bucket-mb", type=float, default=0.25)
    args = p.parse_args()
    modes = ["1x2", "2x1", "2x1-no-overlap"]
    results = {m: [] for m in modes}
    for rep in range(args.reps):
        order = modes[rep % 3:] + modes[:rep % 3]
        for m in order:
            results[m].append(run(args.binary, m, args, args.data_dir))
        print(f"repetition {rep + 1}: " + ", ".join(f"{m} {results[m][-1][0]:.0f} img/s" for m in modes), flush=True)
    print(f"\n{args.model}, batch {args.batch} (global), {args.images} images, {os.cpu_count()} cores, "
          f"buckets {args.bucket_mb} MiB, median of {args.reps} (min-max):")
    print("| configuration | img/s | waiting on all-reduce after backward |")
    print("|---|---|---|")
    for m in modes:
        speeds = [r[0] for r in results[m]]
        waits = [100 * r[1] for r in results[m]]
        print(f"| {m} | {statistics.median(speeds):.0f} ({min(speeds):.0f}-{max(speeds):.0f}) | "
              f"{statistics.median(waits):.1f} % ({min(waits):.1f}-{max(waits):.1f}) |")
    ratios = [b[0] / a[0] for a, b in zip(results["1x2"], results["2x1"])]
    print(f"\n2 processes x 1 thread / 1 process x 2 threads: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    # seconds of waiting per epoch, with the buckets started during backward vs all after it
    fractions = [b[1] / b[0] / (c[1] / c[0]) for b, c in zip(results["2x1"], results["2x1-no-overlap"]) if c[1] > 0]
    if fractions:
        print("overlap: waiting time per image with buckets started during backward / all after backward: "
              f"median {statistics.median(fractions):.2f} (min {min(fractions):.2f}, max {max(fractions):.2f})")


if __name__ == "__main__":
    sys.exit(main())
