#!/usr/bin/env python3
"""Time COCO evaluation end to end: pycocotools, faster-coco-eval and `eshift detect-eval`.

usage: coco_eval_bench.py --eshift BINARY [--dir DIR=build/coco-bench] [--images 5000] [--runs 3]
                          [--seed 0] [--pin-cpu N]
       coco_eval_bench.py --skip-eshift [...]     (the two Python tools only)

Generates COCO-val-size files with coco_generate.py into DIR (reused when DIR holds files made
with the same --images/--seed). Each round runs, for bbox (results_bbox.json) and segm
(results_segm.json), every tool once in a fresh process, the order rotating from round to round:
  pycocotools       COCO(gt), loadRes, COCOeval evaluate, accumulate, summarize
  faster-coco-eval  the same through COCOeval_faster (rle_iou_max_workers=1)
  eshift            BINARY detect-eval --annotations --results --iou-type --out
All single-threaded (OMP_NUM_THREADS=1 and friends; --pin-cpu N also pins each process to CPU
N). Times are wall times of the whole subprocess (start, imports, JSON loading included); the
Python tools also report their evaluate+accumulate time from inside. Prints a Markdown table
(median, min-max, eval+accumulate, peak RSS, time relative to eshift's), the machine, every run
and how far the tools' 12 stats are from pycocotools'.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [("bbox", "results_bbox.json"), ("segm", "results_segm.json")]
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                        "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def worker(tool, annotations, results, iou_type):
    """Runs inside the timed process: evaluates and prints {"eval_accumulate_s", "stats"} last."""
    if tool == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        gt = COCO(annotations)
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
    else:
        from faster_coco_eval import COCO, COCOeval_faster
        gt = COCO(annotations)
        evaluator = COCOeval_faster(gt, gt.loadRes(results), iou_type, print_function=print,
                                    rle_iou_max_workers=1)
    t0 = time.perf_counter()
    evaluator.evaluate()
    evaluator.accumulate()
    t1 = time.perf_counter()
    evaluator.summarize()
    print(json.dumps({"eval_accumulate_s": t1 - t0, "stats": [float(s) for s in evaluator.stats]}))


def command(tool, args, iou_type, results, out):
    annotations = os.path.join(args.dir, "instances.json")
    if tool == "eshift":
        return [args.eshift, "detect-eval", "--annotations", annotations, "--results", results,
                "--iou-type", iou_type, "--out", out]
    return [sys.executable, os.path.abspath(__file__), "--worker", tool, "--annotations", annotations,
            "--results", results, "--iou-type", iou_type]


def timed_run(cmd, cpu):
    """(wall seconds, peak RSS MiB, exit code, stdout+stderr) of one subprocess."""
    env = dict(os.environ, **SINGLE_THREAD)
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    with tempfile.TemporaryFile() as output:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env=env, preexec_fn=pin)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    return seconds, usage.ru_maxrss / 1024, proc.returncode, text


def run_once(tool, args, iou_type, results):
    """One timed run: {"s", "rss", "eval_s" (Python tools), "stats"}."""
    out = os.path.join(args.dir, "bench_eshift_%s.json" % iou_type)
    seconds, rss, rc, text = timed_run(command(tool, args, iou_type, results, out), args.pin_cpu)
    if rc != 0:
        sys.exit("coco_eval_bench: %s %s failed (exit %d):\n%s" % (tool, iou_type, rc, text[-2000:]))
    if tool == "eshift":
        with open(out) as f:
            return {"s": seconds, "rss": rss, "eval_s": None, "stats": json.load(f)[iou_type]}
    report = json.loads([line for line in text.splitlines() if line.startswith('{"eval_accumulate_s"')][-1])
    return {"s": seconds, "rss": rss, "eval_s": report["eval_accumulate_s"], "stats": report["stats"]}


def machine():
    model = "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return "%s, %d logical cores (%d usable by this process)" % (model, os.cpu_count(), len(os.sched_getaffinity(0)))


def print_report(args, tools, runs):
    print("\nMachine: %s. %d images, %d runs of each, single thread%s; wall time of the whole process.\n"
          % (machine(), args.images, args.runs, "" if args.pin_cpu is None else ", pinned to CPU %d" % args.pin_cpu))
    print("| tool | iou type | median s | min–max s | evaluate+accumulate s | peak RSS MiB | time / eshift's |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for iou_type, _ in CASES:
        base = statistics.median(r["s"] for r in runs["eshift", iou_type]) if "eshift" in tools else None
        for tool in tools:
            rs = runs[tool, iou_type]
            median = statistics.median(r["s"] for r in rs)
            evals = [r["eval_s"] for r in rs if r["eval_s"] is not None]
            print("| %s | %s | %.2f | %.2f–%.2f | %s | %.0f | %s |" % (
                tool, iou_type, median, min(r["s"] for r in rs), max(r["s"] for r in rs),
                "%.2f" % statistics.median(evals) if evals else "–", max(r["rss"] for r in rs),
                "%.2f" % (median / base) if base else "–"))
    print("\nRuns (s, in the order made):")
    for (tool, iou_type), rs in runs.items():
        print("  %-16s %s: %s" % (tool, iou_type, " ".join("%.2f" % r["s"] for r in rs)))
    print("\nLargest |stats - pycocotools' stats|:")
    for (tool, iou_type), rs in runs.items():
        reference = runs["pycocotools", iou_type][0]["stats"]
        diff = max(abs(a - b) for r in rs for a, b in zip(r["stats"], reference))
        print("  %-16s %s: %.3g" % (tool, iou_type, diff))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift", help="the eshift binary")
    parser.add_argument("--skip-eshift", action="store_true", help="time only pycocotools and faster-coco-eval")
    parser.add_argument("--dir", default="build/coco-bench")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pin-cpu", type=int, help="pin every timed process to this CPU")
    parser.add_argument("--worker", choices=["pycocotools", "faster-coco-eval"], help=argparse.SUPPRESS)
    parser.add_argument("--annotations", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--iou-type", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.annotations, args.results, args.iou_type)
        return 0
    if not args.skip_eshift and not args.eshift:
        parser.error("--eshift is required (or --skip-eshift)")
    sys.path.insert(0, HERE)
    import coco_generate
    coco_generate.ensure(args.dir, args.images, args.seed)
    tools = ["pycocotools", "faster-coco-eval"] + ([] if args.skip_eshift else ["eshift"])
    runs = {(tool, iou_type): [] for iou_type, _ in CASES for tool in tools}
    for round_ in range(args.runs):
        order = tools[round_ % len(tools):] + tools[:round_ % len(tools)]
        for iou_type, name in CASES:
            for tool in order:
                r = run_once(tool, args, iou_type, os.path.join(args.dir, name))
                runs[tool, iou_type].append(r)
                print("round %d %-16s %s %.2f s" % (round_ + 1, tool, iou_type, r["s"]), flush=True)
    print_report(args, tools, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
