#!/usr/bin/env python3
"""eshift's Mask R-CNN against torchvision's maskrcnn_resnet50_fpn, detection by detection (`make interop`).

1. A generated COCO folder: `eshift make-coco-shapes` (its val images, JPEG).
2. torchvision's maskrcnn_resnet50_fpn(weights=None, weights_backbone=None), seeded, with random
   BatchNorm statistics and affines and its predictors' weights drawn wider (so that the scores
   spread out and the detections kept are not decided by rounding), min/max size as given.
3. Its state dict into eshift: `eshift import --model maskrcnn_resnet50_fpn --wnorm none --norm bn`.
4. Evaluation mode, one image a batch on both sides: torchvision on each val image (decoded by
   torchvision.io.decode_jpeg, as eshift decodes it with libjpeg-turbo's accurate IDCT), boxes and
   masks at the original size (its transform's postprocess); eshift `eval --results`, the COCO
   results files it writes.
5. Per image: the same number of detections; each of torchvision's matched to eshift's detection of
   the same class with the highest IoU; scores within --tol relative; box coordinates within --tol
   of the image's longer side (random weights give boxes far larger than the image, clipped to it:
   a visible edge is then the difference of two large numbers, and its rounding scales with the
   unclipped box, not with what is left of it); masks (> 0.5) differing in fewer than --mask-tol
   of the pixels of all the image's masks together (a box edge that rounds to the other integer
   moves its pasted mask by a pixel: the largest single mask's share is printed too).

6. Training mode, the same weights, in float64: the five losses of one batch of the folder's
   training images (--train-images), torchvision's `model(images, targets)` against eshift's first
   step (`eshift train --init-from` the same state dict, `--iterations 1 --no-flip --dtype
   float64`; metrics.jsonl's train losses are that step's, computed before its update). Both
   samplers take every candidate (batch size per image 10^6, positive fraction 1) and every
   proposal is kept before and after NMS (top-n 10^6), so no random draw and no top-n cut decides
   what the losses see. float64, because with random weights neighbouring anchors' objectness
   differs by little: float32 rounding (even eshift's own, from one batch order or thread count
   to another) reorders them, changes which proposals NMS keeps and moves the RoI heads' losses by
   up to 1 %. The targets on torchvision's side are built from the annotation file as
   torchvision's detection reference builds them (crowd regions left out, boxes clipped, polygons
   rasterized by pycocotools). Each loss within --loss-tol relative. BatchNorm trains on the
   batch's statistics on both sides (weights_backbone=None). --no-train-losses skips it.

Prints one line per image and per loss, and PASS/FAIL; exits 1 on any FAIL.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torchvision
from pycocotools import mask as mask_utils
from torchvision.models.detection import maskrcnn_resnet50_fpn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from interop import randomize_norms  # noqa: E402


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{r.stderr.strip()}")
    return r.stdout


def iou(a, b):
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union > 0 else 0.0


def decode(segmentation):
    rle = segmentation
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(rle, *rle["size"])
    return mask_utils.decode(rle)


def training_targets(data, split="train"):
    """The images and targets torchvision's detection reference trains on, in the file's order."""
    coco = json.load(open(os.path.join(data, "annotations", f"instances_{split}2017.json")))
    label_of = {c["id"]: k + 1 for k, c in enumerate(coco["categories"])}
    out = []
    for image in coco["images"]:
        h, w = image["height"], image["width"]
        boxes, labels, masks = [], [], []
        for a in coco["annotations"]:
            if a["image_id"] != image["id"] or a.get("iscrowd", 0):
                continue
            x, y, bw, bh = a["bbox"]
            box = [min(max(x, 0), w), min(max(y, 0), h), min(max(x + bw, 0), w), min(max(y + bh, 0), h)]
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            segmentation = a["segmentation"]
            rle = (mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w)) if isinstance(segmentation, list)
                   else mask_utils.frPyObjects(segmentation, h, w))
            boxes.append(box)
            labels.append(label_of[a["category_id"]])
            masks.append(torch.from_numpy(mask_utils.decode(rle)))
        if not boxes or all(b[2] - b[0] <= 1 or b[3] - b[1] <= 1 for b in boxes):
            continue  # nothing to learn from: the reference (and eshift) skip the image
        path = os.path.join(data, f"{split}2017", image["file_name"])
        x = torchvision.io.decode_jpeg(torchvision.io.read_file(path)).float() / 255
        out.append((x, {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
                        "masks": torch.stack(masks)}))
    return out


def compare_training_losses(args, model, state, data):
    every = 10 ** 6  # more than the anchors and proposals of an image: the samplers take them all
    for sampler in (model.rpn.fg_bg_sampler, model.roi_heads.fg_bg_sampler):
        sampler.batch_size_per_image = every
        sampler.positive_fraction = 1.0
    # every anchor's proposal enters NMS and every survivor the RoI heads: no top-n cut among
    # objectness scores equal up to rounding decides which proposals the heads see
    model.rpn._pre_nms_top_n["training"] = model.rpn._post_nms_top_n["training"] = every
    examples = training_targets(data)
    # in float64: see step 6 of the docstring
    model.double().train()
    with torch.no_grad():  # the losses only (and their memory freed before eshift runs)
        ref = model([x.double() for x, _ in examples],
                    [{**t, "boxes": t["boxes"].double()} for _, t in examples])
    ref = {name: float(value) for name, value in ref.items()}
    run_dir = os.path.join(args.out, "train-step")
    subprocess.run(["rm", "-rf", run_dir], check=True)
    run(args.eshift, "train", "--task", "detect", "--data", "coco", "--data-dir", data, "--model", "maskrcnn_resnet50_fpn",
        "--wnorm", "none", "--norm", "bn", "--init-from", state, "--iterations", 1, "--batch-size", len(examples),
        "--no-flip", "--min-size", args.min_size, "--max-size", args.max_size, "--rpn-batch-size-per-image", every,
        "--rpn-positive-fraction", 1, "--rpn-pre-nms-top-n-train", every, "--rpn-post-nms-top-n-train", every,
        "--box-batch-size-per-image", every, "--box-positive-fraction", 1,
        "--test-subset", 1, "--probe-every", 0, "--workers", 1, "--dtype", "float64", "--out", run_dir)
    lines = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    mine = [line for line in lines if line.get("kind") == "epoch"][0]
    ok = True
    for name, value in ref.items():
        key = "train_" + name
        if key not in mine:
            print(f"training loss {name}: FAIL, eshift's metrics.jsonl has no {key}")
            ok = False
            continue
        theirs, ours = value, float(mine[key])
        relative = abs(ours - theirs) / abs(theirs)
        passed = relative <= args.loss_tol
        ok &= passed
        print(f"training loss {name:<17} torchvision {theirs:.12f}  eshift {ours:.12f}  relative {relative:.2g}  "
              f"{'PASS' if passed else 'FAIL'}")
    print(f"training losses of one batch of {len(examples)} images: {'PASS' if ok else 'FAIL'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift", default=os.path.join(ROOT, "build", "eshift"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "interop", "maskrcnn"))
    parser.add_argument("--images", type=int, default=6, help="val images compared")
    parser.add_argument("--min-size", type=int, default=320)
    parser.add_argument("--max-size", type=int, default=512)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--score-std", type=float, default=0.002, help="std of the class-score layer's weights")
    parser.add_argument("--mask-tol", type=float, default=1e-3, help="largest share of differing mask pixels")
    parser.add_argument("--train-images", type=int, default=4, help="training images in the batch of the loss check")
    parser.add_argument("--loss-tol", type=float, default=1e-4, help="largest relative difference of a training loss")
    parser.add_argument("--no-train-losses", dest="train_losses", action="store_false",
                        help="skip the comparison of the training losses (step 6)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; eshift {args.eshift}")

    data = os.path.join(args.out, "shapes")
    run(args.eshift, "make-coco-shapes", "--out", data, "--train", args.train_images, "--val", args.images, "--seed", 7)
    truth = json.load(open(os.path.join(data, "annotations", "instances_val2017.json")))
    categories = [c["id"] for c in truth["categories"]]  # label k ↔ categories[k - 1]

    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=len(categories) + 1,
                                  min_size=args.min_size, max_size=args.max_size)
    g = torch.Generator().manual_seed(1)
    randomize_norms(model, g)
    with torch.no_grad():  # class scores spread over (0.05, 1) without saturating at 1 (ties would decide NMS)
        for layer, std in ((model.roi_heads.box_predictor.cls_score, args.score_std),
                           (model.roi_heads.box_predictor.bbox_pred, 0.05), (model.rpn.head.cls_logits, 0.05)):
            layer.weight.normal_(0, std, generator=g)
    model.eval()
    state = os.path.join(args.out, "maskrcnn_resnet50_fpn.pt")
    torch.save(model.state_dict(), state)
    checkpoint = os.path.join(args.out, "maskrcnn_resnet50_fpn.ckpt")
    run(args.eshift, "import", "--from", state, "--model", "maskrcnn_resnet50_fpn", "--wnorm", "none", "--norm", "bn",
        "--classes", len(categories) + 1, "--data", "coco", "--out", checkpoint)
    prefix = os.path.join(args.out, "eshift")
    run(args.eshift, "eval", "--checkpoint", checkpoint, "--data", "coco", "--data-dir", data, "--min-size",
        args.min_size, "--max-size", args.max_size, "--batch-size", 1, "--results", prefix)
    boxes = json.load(open(prefix + ".bbox.json"))
    masks = json.load(open(prefix + ".segm.json"))

    ok, total = True, 0
    for image in truth["images"]:
        path = os.path.join(data, "val2017", image["file_name"])
        x = torchvision.io.decode_jpeg(torchvision.io.read_file(path)).float() / 255
        with torch.no_grad():
            ref = model([x])[0]
        mine = [(b, m) for b, m in zip(boxes, masks) if b["image_id"] == image["id"]]
        n = len(ref["scores"])
        total += n
        problems = []
        if len(mine) != n:
            problems.append(f"{len(mine)} detections, torchvision {n}")
        used = set()
        worst_box = worst_score = worst_mask = 0.0
        differing = pixels = 0
        side = max(image["height"], image["width"])
        for k in range(n):
            x1, y1, x2, y2 = ref["boxes"][k].tolist()
            tv_box = [x1, y1, x2 - x1, y2 - y1]
            category = categories[int(ref["labels"][k]) - 1]
            candidates = [(iou(tv_box, b["bbox"]), j) for j, (b, _) in enumerate(mine)
                          if j not in used and b["category_id"] == category]
            if not candidates:
                problems.append(f"detection {k} (category {category}) has no match")
                continue
            _, j = max(candidates)
            used.add(j)
            b, m = mine[j]
            bx, by, bw, bh = b["bbox"]
            mine_xyxy = [bx, by, bx + bw, by + bh]
            worst_box = max(worst_box, max(abs(p - q) / side for p, q in zip(mine_xyxy, [x1, y1, x2, y2])))
            score = float(ref["scores"][k])
            worst_score = max(worst_score, abs(b["score"] - score) / score)
            tv_mask = (ref["masks"][k, 0] > 0.5).numpy()
            different = int((decode(m["segmentation"]) != tv_mask).sum())
            differing += different
            pixels += tv_mask.size
            worst_mask = max(worst_mask, different / tv_mask.size)
        mask_share = differing / max(pixels, 1)
        if worst_box > args.tol or worst_score > args.tol:
            problems.append(f"box {worst_box:.2g} of the image, score {worst_score:.2g} relative")
        if mask_share >= args.mask_tol:
            problems.append(f"masks differ in {mask_share:.3%} of pixels")
        ok &= not problems
        print(f"image {image['id']:<4} {n:3d} detections  {'PASS' if not problems else 'FAIL'}  largest differences: "
              f"box {worst_box:.2g} (of the image's side), score {worst_score:.2g} (relative); masks differ in "
              f"{mask_share:.4%} of their pixels (worst mask {worst_mask:.3%})"
              + ("; " + "; ".join(problems) if problems else ""))
    if total == 0:
        print("FAIL: torchvision detected nothing: no comparison made")
        ok = False
    if args.train_losses:
        ok &= compare_training_losses(args, model, state, data)
    print("maskrcnn interop: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
