#!/usr/bin/env python3
"""eshift against PyTorch on this CPU, float32 and bfloat16: which build of eshift is fastest, and by
how much it leads PyTorch eager (and torch.compile). The same WS-ResNet training steps (ε-shifted L2,
LSGD semantics, momentum 0.9, synthetic data) as bench/compare.py, timed by `eshift bench` and
bench/reference.py (mode "best": channels-last, eshift's allocator settings) in the Python that
runs this script (pip's torch). Each repetition runs every configuration once, back to back, in
an order that alternates between repetitions; ratios are taken within a repetition (this VM's speed
varies by up to 1.5x between runs) and reported as min-median-max.

    python3 bench/cpu_table.py --eshift debian=build/eshift --eshift torch2=build-torch2/eshift \
        [--models resnet20,resnet50] [--amp off,bf16] [--compile resnet20] [--reps 3] [--threads 2]

Prints each binary's runtime line (LibTorch, oneDNN, CPU extensions), then one table per model.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "reference.py")
SHAPES = {"resnet20": dict(batch=128, image="3x32x32", classes=10, steps=20, warmup=5),
          "resnet50": dict(batch=16, image="3x224x224", classes=1000, steps=5, warmup=2)}
BEST_ENV = {"MALLOC_MMAP_THRESHOLD_": "1099511627776", "MALLOC_TRIM_THRESHOLD_": "1099511627776"}


def run_eshift(binary, model, amp, threads):
    s = SHAPES[model]
    out = subprocess.run([binary, "bench", "--model", model, "--batch-size", str(s["batch"]), "--image", s["image"],
                          "--classes", str(s["classes"]), "--reg", "el2", "--steps", str(s["steps"]), "--warmup",
                          str(s["warmup"]), "--amp", amp, "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    runtime = re.search(r"runtime: (.*)", out)
    return float(re.search(r"throughput: ([0-9.]+) img/s", out).group(1)), runtime.group(1) if runtime else "?"


def run_pytorch(model, amp, threads, compile_model):
    s = SHAPES[model]
    cmd = [sys.executable, REFERENCE, "--model", model, "--batch-size", str(s["batch"]), "--image", s["image"],
           "--classes", str(s["classes"]), "--reg", "el2", "--mode", "best", "--steps", str(s["steps"]),
           "--warmup", str(s["warmup"] + (3 if compile_model else 0)), "--threads", str(threads), "--amp", amp]
    if compile_model:
        cmd.append("--compile")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, **BEST_ENV}).stdout
    return json.loads(out.strip().splitlines()[-1])["img_per_s"]


def spread(values):
    return f"{min(values):.2f}–{statistics.median(values):.2f}–{max(values):.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eshift", action="append", required=True, help="LABEL=BINARY (repeatable)")
    ap.add_argument("--models", default="resnet20,resnet50")
    ap.add_argument("--amp", default="off,bf16")
    ap.add_argument("--compile", default="", help="models also timed under torch.compile (slow to compile)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    binaries = dict(item.split("=", 1) for item in args.eshift)
    compiled = set(filter(None, args.compile.split(",")))
    import torch
    print(f"PyTorch {torch.__version__} (bench/reference.py, mode best), {args.threads} threads, {args.reps} repetitions")
    for model in args.models.split(","):
        for amp in args.amp.split(","):
            configs = [(label, "eshift") for label in binaries] + [("pytorch-eager", "eager")]
            if model in compiled:
                configs.append(("pytorch-compile", "compile"))
            rates = {label: [] for label, _ in configs}
            runtimes = {}
            for rep in range(args.reps):
                order = configs if rep % 2 == 0 else list(reversed(configs))
                for label, kind in order:
                    if kind == "eshift":
                        rate, runtimes[label] = run_eshift(binaries[label], model, amp, args.threads)
                    else:
                        rate = run_pytorch(model, amp, args.threads, kind == "compile")
                    rates[label].append(rate)
                    print(f"cpu_table: {model} {amp} rep {rep + 1} {label}: {rate:.1f} img/s", flush=True)
            s = SHAPES[model]
            print(f"\nWS-{model}, batch {s['batch']}, {s['image']}, amp {amp}, ε-shifted L2 + momentum SGD; "
                  f"img/s median (min–max); ratios per repetition, min–median–max\n")
            print("| implementation | img/s | vs PyTorch eager |" + (" vs torch.compile |" if model in compiled else ""))
            print("| --- | ---: | ---: |" + (" ---: |" if model in compiled else ""))
            for label, _ in configs:
                r = rates[label]
                row = f"| {label} | {statistics.median(r):.1f} ({min(r):.1f}–{max(r):.1f}) | " \
                      f"{spread([a / b for a, b in zip(r, rates['pytorch-eager'])])} |"
                if model in compiled:
                    row += f" {spread([a / b for a, b in zip(r, rates['pytorch-compile'])])} |"
                print(row)
            for label, line in runtimes.items():
                print(f"\n{label}: {line}")
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
