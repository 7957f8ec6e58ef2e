#!/usr/bin/env python3
"""eshift against PyTorch on a GPU: the same WS-ResNet training steps (ε-shifted L2, LSGD semantics,
momentum 0.9, synthetic ImageNet-shape data) in float32, bfloat16 and float16 mixed precision, eshift
with its probes on, PyTorch eager (channels-last) and, for one precision, torch.compile. Runs each
configuration once, one after the other, on the same GPU; writes results.jsonl and table.md to OUT
and prints the table. Run by scripts/gpu-check.sh.

    python3 bench/gpu_table.py ESHIFT_BINARY OUT [--batch-size 128] [--steps 20] [--compile bf16]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "reference.py")


def run_eshift(binary, args, amp):
    cmd = [binary, "bench", "--model", args.model, "--batch-size", str(args.batch_size), "--image", args.image,
           "--classes", "1000", "--reg", "el2", "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--device", "cuda", "--amp", amp, "--probe-every", str(args.probe_every)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=args.timeout).stdout
    row = {"impl": "eshift", "amp": amp, "probes": f"every {args.probe_every}" if args.probe_every > 0 else "none",
           "img_per_s": float(re.search(r"throughput: ([0-9.]+) img/s", out).group(1)),
           "median_ms": float(re.search(r"median ([0-9.]+) ms", out).group(1))}
    gpu = re.search(r"peak GPU memory: ([0-9.]+) MiB", out)
    row["peak_gpu_mb"] = float(gpu.group(1)) if gpu else None
    skipped = re.search(r"skipped_steps: ([0-9.e+]+)", out)
    row["skipped_steps"] = int(float(skipped.group(1))) if skipped else None
    return row


def run_reference(args, amp, compile_model):
    cmd = [sys.executable, REFERENCE, "--model", args.model, "--batch-size", str(args.batch_size), "--image",
           args.image, "--classes", "1000", "--reg", "el2", "--mode", "best", "--steps", str(args.steps),
           "--warmup", str(args.warmup + (5 if compile_model else 0)), "--device", "cuda", "--amp", amp]
    if compile_model:
        cmd.append("--compile")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=args.timeout).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return {"impl": "pytorch-compile" if compile_model else "pytorch-eager", "amp": amp, "probes": "none",
            "img_per_s": j["img_per_s"], "median_ms": 1e3 * args.batch_size / j["img_per_s"],
            "peak_gpu_mb": j.get("peak_gpu_mb"), "skipped_steps": j.get("skipped_steps")}


def table(rows, args):
    eager = {r["amp"]: r["img_per_s"] for r in rows if r["impl"] == "pytorch-eager"}
    lines = [f"WS-{args.model}, batch {args.batch_size}, {args.image}, 1000 classes, ε-shifted L2 + momentum SGD; "
             f"median of {args.steps} timed steps after {args.warmup} warm-up; one run each, same GPU, in this order",
             "",
             "| implementation | precision | probes | img/s | ms/step | vs PyTorch eager | peak GPU MiB | skipped steps |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = f"{r['img_per_s'] / eager[r['amp']]:.2f}" if r["amp"] in eager else "–"
        mem = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") is not None else "–"
        skipped = str(r["skipped_steps"]) if r.get("skipped_steps") is not None else "–"
        lines.append(f"| {r['impl']} | {r['amp']} | {r['probes']} | {r['img_per_s']:.0f} | {r['median_ms']:.1f} | "
                     f"{ratio} | {mem} | {skipped} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eshift")
    ap.add_argument("out")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--image", default="3x224x224")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--probe-every", type=int, default=5)
    ap.add_argument("--compile", default="bf16", help="precision of the torch.compile run ('' for none)")
    ap.add_argument("--timeout", type=int, default=240, help="seconds per run")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    plan = [("eshift", "off", False), ("pytorch", "off", False), ("eshift", "bf16", False),
            ("pytorch", "bf16", False), ("eshift", "fp16", False), ("pytorch", "fp16", False)]
    if args.compile:
        plan.append(("pytorch", args.compile, True))
    rows = []
    open(os.path.join(args.out, "results.jsonl"), "w").close()  # this run's rows only
    for impl, amp, compile_model in plan:
        t0 = time.time()
        try:
            row = run_eshift(args.eshift, args, amp) if impl == "eshift" else run_reference(args, amp, compile_model)
        except subprocess.TimeoutExpired:
            reason = f"timed out after {args.timeout} s"
        except subprocess.CalledProcessError as e:
            err = (e.stderr or "").strip()
            reason = err.splitlines()[-1] if err else f"exit {e.returncode}"
        except (AttributeError, ValueError, IndexError, KeyError) as e:  # output not as expected
            reason = f"unreadable output ({e})"
        else:
            reason = None
        if reason is not None:
            print(f"gpu_table: {impl} --amp {amp}{' --compile' if compile_model else ''} failed: {reason}", flush=True)
            continue
        row["seconds"] = round(time.time() - t0, 1)
        rows.append(row)
        print(f"gpu_table: {json.dumps(row)}", flush=True)
        with open(os.path.join(args.out, "results.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        with open(os.path.join(args.out, "table.md"), "w") as f:  # after every row: a killed run keeps its table
            f.write(table(rows, args))
    text = table(rows, args)
    print(text)
    return 0 if len(rows) == len(plan) else 1


if __name__ == "__main__":
    sys.exit(main())
