#!/usr/bin/python3
"""eshift against the paper's code semantics in PyTorch (bench/reference.py), alternately, same
threads and shapes, several repetitions. Prints img/s (median, min-max), the ratio eshift/reference
(min-median-max over repetitions, each repetition's runs back to back), peak RSS, and the cost of
the regularizer (eshift el2 vs --reg none). Run by `make bench`.

The reference runs twice: "published" (NCHW, plain environment, as the reference runs) and
"best" (channels_last plus the same glibc allocator settings eshift applies to itself, given
through MALLOC_* environment variables: the best CPU configuration found).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ESHIFT = os.path.join(HERE, "..", "build", "eshift")
REFERENCE = os.path.join(HERE, "reference.py")
BEST_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}

CONFIGS = [
    dict(name="WS-ResNet-20, batch 128, 3x32x32", model="resnet20", batch=128, image="3x32x32", classes=10,
         steps=20, warmup=5),
    dict(name="WS-ResNet-50, batch 16, 3x224x224", model="resnet50", batch=16, image="3x224x224", classes=1000,
         steps=5, warmup=2),
]


def run_eshift(c, threads, reg="el2"):
    out = subprocess.run([ESHIFT, "bench", "--model", c["model"], "--batch-size", str(c["batch"]), "--image", c["image"],
                          "--classes", str(c["classes"]), "--reg", reg, "--steps", str(c["steps"]), "--warmup",
                          str(c["warmup"]), "--threads", str(threads)], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"throughput: ([0-9.]+) img/s", out).group(1))
    rss = float(re.search(r"peak RSS: ([0-9.]+) MiB", out).group(1))
    return rate, rss


def run_reference(c, threads, mode):
    env = dict(os.environ)
    if mode == "best":
        env.update(BEST_ENV)
    out = subprocess.run(["/usr/bin/python3", REFERENCE, "--model", c["model"], "--batch-size", str(c["batch"]),
                          "--image", c["image"], "--classes", str(c["classes"]), "--reg", "el2", "--mode", mode,
                          "--steps", str(c["steps"]), "--warmup", str(c["warmup"]), "--threads", str(threads)],
                         check=True, capture_output=True, text=True, env=env).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j["img_per_s"], j["peak_rss_mb"]


def spread(values):
    return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", default="", help="run only configs whose model is this (resnet20, resnet50)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads, {args.reps} repetitions; "
          f"eshift {ESHIFT}, reference {REFERENCE} (python3-torch)", flush=True)
    for c in CONFIGS:
        if args.only and c["model"] != args.only:
            continue
        rows = {"eshift": [], "eshift --reg none": [], "pytorch-published": [], "pytorch-best": []}
        rss = {k: [] for k in rows}
        for rep in range(args.reps):
            order = ["eshift", "pytorch-published", "eshift --reg none", "pytorch-best"]
            if rep % 2:
                order.reverse()  # alternate which runs first
            for impl in order:
                if impl == "eshift":
                    r, m = run_eshift(c, args.threads)
                elif impl == "eshift --reg none":
                    r, m = run_eshift(c, args.threads, "none")
                else:
                    r, m = run_reference(c, args.threads, impl.split("-")[1])
                rows[impl].append(r)
                rss[impl].append(m)
            print(f"  {c['name']}: repetition {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
        print(f"\n{c['name']}, ε-shifted L2 (LSGD semantics), momentum 0.9")
        print(f"{'implementation':22s} {'img/s median (min-max)':>26s} {'eshift/this min-median-max':>28s} {'peak RSS MiB':>13s}")
        for impl, rates in rows.items():
            ratios = [e / r for e, r in zip(rows["eshift"], rates)]
            ratio = f"{min(ratios):.2f}-{statistics.median(ratios):.2f}-{max(ratios):.2f}"
            print(f"{impl:22s} {spread(rates):>26s} {ratio:>28s} {statistics.median(rss[impl]):13.0f}")
        cost = [1 - e / n for e, n in zip(rows["eshift"], rows["eshift --reg none"])]
        print(f"regularizer + SGD cost vs --reg none: median {100 * statistics.median(cost):+.1f}% of the step "
              f"(per repetition: {', '.join(f'{100 * x:+.1f}%' for x in cost)})")


if __name__ == "__main__":
    main()
