#!/usr/bin/env python3
"""RoIAlign and NMS, eshift's kernels against torchvision.ops, same run (`make bench-detection-ops`).

eshift: `eshift_micro --benchmark_filter='BM_RoIAlign|BM_Nms'` (bench/micro.cpp), median of --reps
Google Benchmark repetitions. torchvision: torchvision.ops.roi_align / nms / batched_nms on the same
inputs, built here from the same formulas as micro.cpp's bench_boxes and bench_scores (box i of n in
a 1344×800 image: centre at the R2 point (frac(i·a1)·1344, frac(i·a2)·800), sides 16 + frac(i·√2)·240
by 16 + frac(i·√3)·240, clipped; score frac(i·φ)); its time is the median of the calls made in
--gb-reps × --min-time seconds (at least 3), after one untimed call. The cases are the calls Mask R-CNN R50-FPN makes at
800×1344, batch 2:
  RoIAlign  box head, 7×7 over 1024 RoIs, and mask head, 14×14 over 256 RoIs, on P2 features
            [2, 256, 200, 336] float32, scale 1/4, sampling ratio 2, aligned=False; forward, and
            forward + backward of the sum. eshift runs both layouts (the detector is channels-last);
            torchvision gets NCHW (its CPU kernel copies a channels-last input to NCHW first).
  NMS       4000 boxes at IoU 0.7 (the RPN's per-image NMS), and batched over 80 categories, 5000
            boxes at 0.5 (the box head's per-class NMS).
Both with --threads threads; the two sides alternate, eshift first. Prints ms per call and the
ratio torchvision / eshift (above 1: eshift is faster) per repetition.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torchvision.ops as ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frac(v):
    return v - math.floor(v)


def bench_boxes(n, width, height):
    rows = []
    for i in range(n):
        cx, cy = frac(i * 0.7548776662466927) * width, frac(i * 0.5698402909980532) * height
        w, h = 16 + frac(i * 1.4142135623730951) * 240, 16 + frac(i * 1.7320508075688772) * 240
        rows.append([max(cx - w / 2, 0.0), max(cy - h / 2, 0.0), min(cx + w / 2, width), min(cy + h / 2, height)])
    return torch.tensor(rows, dtype=torch.float64).float()


def bench_scores(n):
    return torch.tensor([frac(i * 0.6180339887498949) for i in range(n)], dtype=torch.float64).float()


def eshift_runs(args):
    """{benchmark name: (median ms, label)} from one eshift_micro run."""
    out = subprocess.run([args.eshift_micro, f"--benchmark_filter={args.filter}", "--benchmark_format=json",
                          f"--benchmark_repetitions={args.gb_reps}", "--benchmark_report_aggregates_only=true",
                          f"--benchmark_min_time={args.min_time}"],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if out.returncode != 0:
        sys.exit(f"eshift_micro failed:\n{out.stderr.strip()}")
    runs = {}
    for b in json.loads(out.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
            runs[b["run_name"]] = (b["real_time"] * scale, b.get("label", ""))
    return runs


def median_ms(fn, seconds):
    fn()
    times = []
    while len(times) < 3 or sum(times) < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1e3 * times[len(times) // 2]


def torchvision_ms(name, seconds):
    """The torchvision call that matches eshift_micro's benchmark `name` (BM_RoIAlign/side/k/cl/bw, BM_Nms/n/t/c)."""
    parts = name.split("/")
    if parts[0] == "BM_RoIAlign":
        side, k, _, backward = (int(p) for p in parts[1:5])
        torch.manual_seed(0)
        features = torch.randn(2, 256, 200, 336, requires_grad=bool(backward))
        rois = torch.cat([(torch.arange(k) % 2).float().unsqueeze(1), bench_boxes(k, 1344, 800)], 1)

        def call():
            features.grad = None
            out = ops.roi_align(features, rois, (side, side), 0.25, 2, False)
            if backward:
                out.sum().backward()
        return median_ms(call, seconds)
    n, threshold, categories = int(parts[1]), int(parts[2]) / 100, int(parts[3])
    boxes, scores = bench_boxes(n, 1344, 800), bench_scores(n)
    idxs = torch.arange(n) % max(categories, 1)
    if categories:
        return median_ms(lambda: ops.batched_nms(boxes, scores, idxs, threshold), seconds)
    return median_ms(lambda: ops.nms(boxes, scores, threshold), seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift-micro", default=os.path.join(ROOT, "build", "eshift_micro"))
    parser.add_argument("--reps", type=int, default=3, help="alternated repetitions of the two sides")
    parser.add_argument("--gb-reps", type=int, default=3, help="Google Benchmark repetitions in one eshift run")
    parser.add_argument("--min-time", type=float, default=0.5, help="Google Benchmark's --benchmark_min_time")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--filter", default="BM_RoIAlign|BM_Nms",
                        help="the cases, as Google Benchmark's --benchmark_filter (BM_Nms: NMS alone)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"RoIAlign and NMS on {args.threads} threads: eshift_micro against torchvision {__import__('torchvision').__version__} "
          f"(torch {torch.__version__}), {args.reps} alternated repetitions")
    ratios = {}
    for rep in range(args.reps):
        runs = eshift_runs(args)
        for name, (ms, label) in runs.items():
            torch_name = name
            if name.startswith("BM_RoIAlign") and name.split("/")[3] == "1":
                # torchvision at its best: NCHW features (the same call as the NCHW case)
                torch_name = "/".join(name.split("/")[:3] + ["0"] + name.split("/")[4:])
            tv = torchvision_ms(torch_name, args.gb_reps * args.min_time)
            ratios.setdefault(name, []).append(tv / ms)
            print(f"[{rep + 1}] {name:32s} {label:30s} eshift {ms:9.2f} ms  torchvision {tv:9.2f} ms  "
                  f"ratio {tv / ms:5.2f}", flush=True)
    print("\nratio torchvision / eshift per case, min–median–max over repetitions:")
    for name, r in ratios.items():
        r.sort()
        print(f"  {name:32s} {r[0]:5.2f} – {r[len(r) // 2]:5.2f} – {r[-1]:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
