#!/usr/bin/env python3
"""eshift's COCO evaluation (`eshift detect-eval`) against pycocotools itself.

usage: coco_interop.py --eshift BINARY --dir DIR [--images N=400] [--seed S=0]
       coco_interop.py --pycocotools-only --dir DIR [...]   (only pycocotools' stats, no eshift)

Generates DIR's files with coco_generate.py (this script's folder) unless DIR/instances.json
exists. For each case (bbox, results_bbox.json), (segm, results_segm.json), (segm,
results_both.json: dt areas from the bbox, pycocotools' loadRes quirk) and (bbox,
results_both.json): pycocotools' COCO / loadRes / COCOeval evaluate, accumulate, summarize, then
`BINARY detect-eval --annotations DIR/instances.json --results FILE --iou-type T --out OUT.json`
({"T": [12 numbers]}). Every stat must agree to 1e-9 and the 12 summary lines eshift prints
must equal pycocotools'. Then malformed results (an image_id not in the ground truth; truncated
JSON) must make eshift exit non-zero with one stderr line starting with "eshift: error:".
Prints one row per check; exits 1 when any fails. Run by scripts/interop.sh.
"""
import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import coco_generate  # noqa: E402  (this script's folder)

from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

CASES = [("bbox", "results_bbox.json"), ("segm", "results_segm.json"),
         ("segm", "results_both.json"), ("bbox", "results_both.json")]
TOLERANCE = 1e-9


def summary_lines(text):
    return [line for line in text.splitlines() if line.startswith((" Average Precision", " Average Recall"))]


def pycocotools_eval(annotations, results, iou_type):
    """pycocotools' 12 stats and its 12 summary lines (its chatter is swallowed)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        gt = COCO(annotations)
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(s) for s in evaluator.stats], summary_lines(printed.getvalue())


def eshift_eval(binary, annotations, results, iou_type, out):
    """(stats or None, summary lines, error text)."""
    if os.path.exists(out):
        os.remove(out)
    cmd = [binary, "detect-eval", "--annotations", annotations, "--results", results,
           "--iou-type", iou_type, "--out", out]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        return None, [], str(e)
    if proc.returncode != 0:
        return None, [], "exit %d: %s" % (proc.returncode, proc.stderr.strip()[-500:])
    try:
        with open(out) as f:
            stats = [float(s) for s in json.load(f)[iou_type]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, [], "unreadable %s: %s" % (out, e)
    if len(stats) != 12:
        return None, [], "%d stats in %s, not 12" % (len(stats), out)
    return stats, summary_lines(proc.stdout), ""


def max_difference(a, b):
    """A NaN on either side counts as an infinite difference."""
    return max(math.inf if math.isnan(x - y) else abs(x - y) for x, y in zip(a, b))


def check_cases(args):
    ok = True
    print("| iou type | results | pycocotools s | eshift s | max abs difference | summary lines | result |")
    print("|---|---|---:|---:|---:|---|---|")
    for iou_type, name in CASES:
        annotations, results = os.path.join(args.dir, "instances.json"), os.path.join(args.dir, name)
        t0 = time.perf_counter()
        expected, expected_lines = pycocotools_eval(annotations, results, iou_type)
        t1 = time.perf_counter()
        if args.pycocotools_only:
            print("| %s | %s | %.2f | – | – | – | %s |" % (iou_type, name, t1 - t0, json.dumps(expected)))
            continue
        out = os.path.join(args.dir, "eshift_%s_%s" % (iou_type, name))
        got, lines, error = eshift_eval(args.eshift, annotations, results, iou_type, out)
        t2 = time.perf_counter()
        if got is None:
            ok = False
            print("| %s | %s | %.2f | %.2f | – | – | FAIL: %s |" % (iou_type, name, t1 - t0, t2 - t1, error))
            continue
        diff = max_difference(expected, got)
        same_lines = lines == expected_lines
        passed = diff <= TOLERANCE and same_lines
        ok &= passed
        print("| %s | %s | %.2f | %.2f | %.3g | %s | %s |" % (iou_type, name, t1 - t0, t2 - t1, diff,
              "equal" if same_lines else "DIFFER", "pass" if passed else "FAIL"))
        if not passed:
            for i, (e, g) in enumerate(zip(expected, got)):
                if not abs(e - g) <= TOLERANCE:
                    print("    stats[%d]: pycocotools %r eshift %r" % (i, e, g))
            for e, g in zip(expected_lines, lines + [""] * 12):
                if e != g:
                    print("    pycocotools:%s\n    eshift:     %s" % (e, g))
    return ok


def malformed_files(directory):
    """(description, path) of result files eshift must refuse."""
    with open(os.path.join(directory, "instances.json")) as f:
        missing_id = max(image["id"] for image in json.load(f)["images"]) + 1
    with open(os.path.join(directory, "results_bbox.json")) as f:
        entries = json.load(f)[:5]
    entries[2] = dict(entries[2], image_id=missing_id)
    unknown = os.path.join(directory, "malformed_image_id.json")
    with open(unknown, "w") as f:
        json.dump(entries, f)
    truncated = os.path.join(directory, "malformed_truncated.json")
    with open(truncated, "w") as f:
        f.write(json.dumps(entries)[:-20])
    return [("image_id %d not in the ground truth" % missing_id, unknown), ("truncated JSON", truncated)]


def check_malformed(args):
    ok = True
    for what, path in malformed_files(args.dir):
        proc = subprocess.run([args.eshift, "detect-eval", "--annotations", os.path.join(args.dir, "instances.json"),
                               "--results", path, "--iou-type", "bbox",
                               "--out", os.path.join(args.dir, "eshift_malformed.json")],
                              capture_output=True, text=True)
        lines = proc.stderr.strip("\n").split("\n")
        passed = proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("eshift: error:")
        ok &= passed
        print("malformed results (%s): exit %d, stderr %r: %s"
              % (what, proc.returncode, proc.stderr.strip()[:300], "pass" if passed else "FAIL"))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift", help="the eshift binary")
    parser.add_argument("--dir", required=True, help="folder of the COCO files (made here if absent)")
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pycocotools-only", action="store_true", help="print pycocotools' stats, run no eshift")
    args = parser.parse_args()
    if not args.eshift and not args.pycocotools_only:
        parser.error("--eshift is required (or --pycocotools-only)")
    if args.eshift and not os.access(args.eshift, os.X_OK):
        parser.error("%s is not an executable file" % args.eshift)
    if not os.path.exists(os.path.join(args.dir, "instances.json")):
        coco_generate.generate(args.dir, args.images, args.seed)
    ok = check_cases(args)
    if not args.pycocotools_only:
        ok &= check_malformed(args)
    print("coco_interop: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
