#!/usr/bin/env python3
"""Synthetic COCO ground truth and detections that exercise the whole COCO protocol.

usage: coco_generate.py --out DIR [--images N=500] [--seed S=0] [--dets-per-image K=100]

Writes, deterministically for a given seed:
  DIR/instances.json     images (ids neither contiguous nor sorted, sizes 200..640), COCO's 80
                         categories with their real ids (1..90 with gaps), annotations: ~7.3 an
                         image (some images none, some 30+), small/medium/large areas, non-crowd
                         objects as 1-3 star-shaped polygons (a few vertices slightly outside the
                         image), ~3 % iscrowd=1 as uncompressed RLE; bbox and area are
                         pycocotools' toBbox/area of the merged mask.
  DIR/results_bbox.json  {image_id, category_id, bbox, score}: jittered boxes of most objects
                         (IoU spread ~0.3..1), duplicates, wrong categories, false positives,
                         padding with low scores up to about K an image, ties (scores rounded
                         to 2 decimals). About 1 % of the images also get 110-140 extra
                         detections of one category, so that pycocotools' top-100 cut (made per
                         image AND category) matters; those images have more than K.
  DIR/results_segm.json  the same kind of detections as compressed RLE masks (jittered, dilated
                         or eroded GT polygons, random blobs, a few empty masks), no bbox.
  DIR/results_both.json  the segm detections plus a jittered bbox of each mask, as Mask R-CNN
                         writes them: pycocotools' loadRes then takes the area from the bbox.
  DIR/generator.json     the arguments, so that callers can tell whether DIR is reusable.

Needs numpy and pycocotools. As a module: generate(out, images, seed, dets_per_image) and
ensure(out, images, seed, dets_per_image) (generate unless DIR already holds these files).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from pycocotools import mask as mask_utils

SUPERCATEGORIES = [(1, "person"), (2, "vehicle"), (10, "outdoor"), (16, "animal"), (27, "accessory"),
                   (34, "sports"), (44, "kitchen"), (52, "food"), (62, "furniture"), (72, "electronic"),
                   (78, "appliance"), (84, "indoor")]
CATEGORY_NAMES = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush"}
CAT_IDS = np.array(sorted(CATEGORY_NAMES))
# person is a quarter of COCO's objects; the rest roughly Zipf-distributed
_weights = np.concatenate([[20.0], 1.0 / np.arange(1, len(CAT_IDS)) ** 0.7])
CAT_PROBS = _weights / _weights.sum()


def categories():
    def supercategory(cid):
        return [name for first, name in SUPERCATEGORIES if first <= cid][-1]
    return [{"supercategory": supercategory(int(c)), "id": int(c), "name": CATEGORY_NAMES[c]} for c in CAT_IDS]


# ---------------------------------------------------------------- geometry

def star_polygons(rng, cx, cy, radius, vertices):
    """Star-shaped polygons around centres cx, cy (arrays of m): an (m, 2*vertices) array x0,y0,x1,y1..."""
    m = len(cx)
    angles = np.sort(rng.uniform(0, 2 * np.pi, (m, vertices)), axis=1)
    radii = radius[:, None] * rng.uniform(0.55, 1.35, (m, vertices))
    xy = np.empty((m, 2 * vertices))
    xy[:, 0::2] = cx[:, None] + radii * np.cos(angles)
    xy[:, 1::2] = cy[:, None] + radii * np.sin(angles)
    return xy


def clip_polygon(xy, h, w, margin=2.0):
    """Rounds to 2 decimals like COCO's files; vertices may stay up to `margin` px outside the image."""
    out = xy.copy()
    out[..., 0::2] = np.clip(out[..., 0::2], -margin, w + margin)
    out[..., 1::2] = np.clip(out[..., 1::2], -margin, h + margin)
    return np.round(out, 2)


def object_parts(rng, h, w, side, crowd):
    """1-3 polygons (lists of floats) of an object whose sqrt(area) is about `side`."""
    radius = side / np.sqrt(np.pi) * 1.15
    cx = rng.uniform(min(radius, w / 2), max(w - radius, w / 2))
    cy = rng.uniform(min(radius, h / 2), max(h - radius, h / 2))
    nparts = rng.choice([2, 3, 4, 5]) if crowd else rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05])
    scale = np.concatenate([[1.0], rng.uniform(0.3, 0.7, nparts - 1)])
    offset = np.concatenate([[0.0], rng.uniform(0.6, 1.3, nparts - 1)]) * radius
    angle = rng.uniform(0, 2 * np.pi, nparts)
    vertices = int(rng.integers(4, 9)) if side < 32 else int(rng.integers(8, 25))
    xy = star_polygons(rng, cx + offset * np.cos(angle), cy + offset * np.sin(angle), radius * scale, vertices)
    return [row for row in clip_polygon(xy, h, w).tolist()]


def merged_rle(parts, h, w):
    return mask_utils.merge(mask_utils.frPyObjects(parts, h, w))


def uncompressed_counts(rle):
    """Run lengths of the mask in column-major order, starting with a run of zeros (maybe empty)."""
    flat = mask_utils.decode(rle).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    return [0] + counts if flat[0] else counts


def rle_string(rle):
    return rle["counts"].decode("ascii")


# ---------------------------------------------------------------- ground truth

def object_count(rng):
    # negative binomial: mean 7.3, ~10 % of the images empty, a long tail past 30
    return int(min(rng.negative_binomial(1.2, 1.2 / 8.5), 60))


def object_side(rng, h, w):
    """sqrt(area) target: COCO's mix of small (<32), medium (32..96) and large (>96) objects."""
    kind = rng.choice(3, p=[0.41, 0.34, 0.25])
    lo, hi = [(4, 32), (32, 96), (96, 0.85 * np.sqrt(h * w))][kind]
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def image_annotations(rng, image, next_id):
    """The image's annotations and, for the detectors, each one's polygons."""
    h, w = image["height"], image["width"]
    palette = rng.choice(CAT_IDS, size=int(rng.integers(1, 5)), replace=False, p=CAT_PROBS)
    anns, parts_of = [], []
    for _ in range(object_count(rng)):
        crowd = rng.random() < 0.03
        while True:
            parts = object_parts(rng, h, w, object_side(rng, h, w) * (1.5 if crowd else 1.0), crowd)
            rle = merged_rle(parts, h, w)
            if mask_utils.area(rle) > 0:
                break
        segmentation = {"counts": uncompressed_counts(rle), "size": [h, w]} if crowd else parts
        anns.append({"id": next_id + len(anns), "image_id": image["id"], "category_id": int(rng.choice(palette)),
                     "segmentation": segmentation, "area": float(mask_utils.area(rle)),
                     "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": int(crowd)})
        parts_of.append(parts)
    return anns, parts_of


def make_images(rng, count):
    ids = rng.choice(np.arange(1, 600000), size=count, replace=False)  # unsorted, with gaps
    sizes = rng.integers(200, 641, size=(count, 2))
    return [{"license": int(1 + i % 8), "file_name": "%012d.jpg" % int(i), "height": int(hw[0]),
             "width": int(hw[1]), "id": int(i)} for i, hw in zip(ids, sizes)]


# ---------------------------------------------------------------- detections

def plan_detections(rng, image, anns, per_image):
    """What each detection of one image is: (category, score, source annotation or -1, noise).

    noise scales the jitter of a detection made from an object; -1 = a false positive anywhere.
    """
    plan = []
    for index, ann in enumerate(anns):
        if rng.random() < 0.85:
            plan.append((ann["category_id"], rng.beta(5, 1.6), index, rng.uniform(0, 0.25)))
        if rng.random() < 0.12:  # duplicate
            plan.append((ann["category_id"], rng.beta(2, 3), index, rng.uniform(0.05, 0.4)))
        if rng.random() < 0.05:  # right place, wrong category
            plan.append((int(rng.choice(CAT_IDS, p=CAT_PROBS)), rng.beta(2, 4), index, rng.uniform(0, 0.2)))
    present = sorted({a["category_id"] for a in anns}) or [int(rng.choice(CAT_IDS, p=CAT_PROBS))]
    for _ in range(int(rng.poisson(3))):  # confident false positives
        plan.append((int(rng.choice(present)), rng.beta(1.5, 4), -1, 0.0))
    plan.sort(key=lambda p: -p[1])
    plan = plan[:per_image]
    pad = max(0, per_image - len(plan) - int(rng.integers(0, 8)))
    pad_cats = rng.choice(present + [int(c) for c in rng.choice(CAT_IDS, 3)], size=pad)
    plan += [(int(c), s, -1, 0.0) for c, s in zip(pad_cats, rng.uniform(0.01, 0.06, pad))]
    if anns and rng.random() < 0.01:  # beyond pycocotools' top 100 of an image and category
        extra = int(rng.integers(110, 141))
        cat = anns[int(rng.integers(len(anns)))]["category_id"]
        plan += [(cat, s, -1 if rng.random() < 0.8 else int(rng.integers(len(anns))), 0.3)
                 for s in rng.uniform(0.01, 0.9, extra)]
    order = rng.permutation(len(plan))  # the file's order decides pycocotools' ties
    return [plan[i] for i in order]


def final_scores(rng, raw):
    """float32-rounded like a detector's output; ~25 % rounded to 2 decimals (ties); all in (0, 1]."""
    scores = np.asarray(raw, dtype=np.float32).astype(np.float64)
    tied = rng.random(len(scores)) < 0.25
    scores[tied] = np.round(scores[tied], 2)
    return np.clip(scores, 0.01, 1.0).tolist()


def jitter_boxes(rng, boxes, noise):
    """boxes (n, 4) x,y,w,h; noise (n,) relative standard deviation."""
    x, y, w, h = boxes.T
    cx = x + w / 2 + rng.normal(0, 1, len(x)) * noise * w
    cy = y + h / 2 + rng.normal(0, 1, len(x)) * noise * h
    w2 = w * np.exp(rng.normal(0, 1, len(x)) * noise)
    h2 = h * np.exp(rng.normal(0, 1, len(x)) * noise)
    return np.stack([cx - w2 / 2, cy - h2 / 2, w2, h2], axis=1)


def random_boxes(rng, n, h, w):
    side = np.exp(rng.uniform(np.log(4), np.log(0.8 * min(h, w)), (n, 2)))
    return np.stack([rng.uniform(-5, w - side[:, 0] / 2), rng.uniform(-5, h - side[:, 1] / 2),
                     side[:, 0], side[:, 1]], axis=1)


def box_detections(rng, image, anns, plan):
    h, w = image["height"], image["width"]
    boxes = random_boxes(rng, len(plan), h, w)
    src = np.array([p[2] for p in plan], dtype=int)
    made = src >= 0
    if made.any():
        gt = np.array([anns[i]["bbox"] for i in src[made]])
        boxes[made] = jitter_boxes(rng, gt, np.array([p[3] for p in plan])[made])
    # most detectors clip to the image; keep ~10 % unclipped (slightly outside)
    clip = rng.random(len(plan)) < 0.9
    x0 = np.where(clip, np.clip(boxes[:, 0], 0, w), boxes[:, 0])
    y0 = np.where(clip, np.clip(boxes[:, 1], 0, h), boxes[:, 1])
    x1 = np.where(clip, np.clip(boxes[:, 0] + boxes[:, 2], 0, w), boxes[:, 0] + boxes[:, 2])
    y1 = np.where(clip, np.clip(boxes[:, 1] + boxes[:, 3], 0, h), boxes[:, 1] + boxes[:, 3])
    boxes = np.stack([x0, y0, np.maximum(x1 - x0, 0.5), np.maximum(y1 - y0, 0.5)], axis=1)
    boxes = np.round(boxes, 2)
    scores = final_scores(rng, [p[1] for p in plan])
    out = []
    for (cat, _, _, _), box, score in zip(plan, boxes.tolist(), scores):
        if rng.random() < 0.02:
            box = [int(round(v)) or 1 for v in box]  # integers in the JSON too
        out.append({"image_id": image["id"], "category_id": cat, "bbox": box, "score": score})
    return out


def mask_from_parts(rng, parts, noise, h, w):
    """A jittered (moved, dilated or eroded, vertices shaken) version of an object's polygons."""
    xy = [np.array(p) for p in parts]
    allxy = np.concatenate(xy)
    cx, cy = allxy[0::2].mean(), allxy[1::2].mean()
    bw, bh = np.ptp(allxy[0::2]) + 1, np.ptp(allxy[1::2]) + 1
    grow = np.exp(rng.normal(0, noise))
    dx, dy = rng.normal(0, noise) * bw, rng.normal(0, noise) * bh
    moved = []
    for p in xy:
        q = np.empty_like(p)
        q[0::2] = cx + (p[0::2] - cx) * grow + dx + rng.normal(0, noise * bw / 6, len(p) // 2)
        q[1::2] = cy + (p[1::2] - cy) * grow + dy + rng.normal(0, noise * bh / 6, len(p) // 2)
        moved.append(clip_polygon(q, h, w, margin=0.0).tolist())
    return merged_rle(moved, h, w)


def mask_detections(rng, image, parts_of, plan):
    """(rle, score, category) per planned detection; false positives are random blobs."""
    h, w = image["height"], image["width"]
    fps = [i for i, p in enumerate(plan) if p[2] < 0]
    side = np.exp(rng.uniform(np.log(3), np.log(0.6 * min(h, w)), len(fps)))
    blobs = star_polygons(rng, rng.uniform(0, w, len(fps)), rng.uniform(0, h, len(fps)), side / 2, 8)
    blob_rles = mask_utils.frPyObjects(clip_polygon(blobs, h, w, margin=0.0).tolist(), h, w) if fps else []
    rles = [None] * len(plan)
    for i, rle in zip(fps, blob_rles):
        rles[i] = rle
    for i, (_, _, src, noise) in enumerate(plan):
        if src >= 0:
            rles[i] = mask_from_parts(rng, parts_of[src], noise, h, w)
    for i in range(len(plan)):
        if rng.random() < 0.002:  # an empty mask
            rles[i] = mask_utils.encode(np.zeros((h, w), dtype=np.uint8, order="F"))
    scores = final_scores(rng, [p[1] for p in plan])
    return [(rle, score, p[0]) for rle, score, p in zip(rles, scores, plan)]


def segm_entries(rng, image, masks):
    """(results_segm entries, results_both entries) of one image."""
    segm, both = [], []
    if not masks:
        return segm, both
    for (rle, score, cat), box in zip(masks, mask_utils.toBbox([m[0] for m in masks])):
        entry = {"image_id": image["id"], "category_id": cat,
                 "segmentation": {"size": [image["height"], image["width"]], "counts": rle_string(rle)},
                 "score": score}
        segm.append(entry)
        if box[2] > 0:  # the box a detector's head predicts: near the mask's, not equal
            box = jitter_boxes(rng, box[None], np.array([0.08]))[0]
        both.append(dict(entry, bbox=np.round(box, 2).tolist()))
    return segm, both


# ---------------------------------------------------------------- files

def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def generate(out, images=500, seed=0, dets_per_image=100, log=print):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    imgs = make_images(rng, images)
    anns, parts_of = [], {}
    for image in imgs:
        image_anns, parts = image_annotations(rng, image, len(anns) + 1)
        anns += image_anns
        parts_of[image["id"]] = parts
    t1 = time.perf_counter()
    log("coco_generate: %d images, %d annotations (%d crowd) in %.1f s"
        % (len(imgs), len(anns), sum(a["iscrowd"] for a in anns), t1 - t0))
    by_image = {image["id"]: [] for image in imgs}
    for a in anns:
        by_image[a["image_id"]].append(a)
    bbox, segm, both = [], [], []
    for image in imgs:
        image_anns = by_image[image["id"]]
        bbox += box_detections(rng, image, image_anns, plan_detections(rng, image, image_anns, dets_per_image))
        plan = plan_detections(rng, image, image_anns, dets_per_image)
        s, b = segm_entries(rng, image, mask_detections(rng, image, parts_of[image["id"]], plan))
        segm += s
        both += b
    t2 = time.perf_counter()
    log("coco_generate: %d bbox and %d segm detections in %.1f s" % (len(bbox), len(segm), t2 - t1))
    write_json(os.path.join(out, "instances.json"), {
        "info": {"description": "eshift synthetic COCO (bench/coco_generate.py)", "version": "1.0",
                 "year": 2017, "contributor": "eshift", "date_created": "2017/09/01"},
        "licenses": [{"url": "http://example.com/%d" % i, "id": i, "name": "license %d" % i} for i in range(1, 9)],
        "images": imgs, "annotations": anns, "categories": categories()})
    write_json(os.path.join(out, "results_bbox.json"), bbox)
    write_json(os.path.join(out, "results_segm.json"), segm)
    write_json(os.path.join(out, "results_both.json"), both)
    write_json(os.path.join(out, "generator.json"), generator_args(images, seed, dets_per_image))
    log("coco_generate: wrote %s in %.1f s" % (out, time.perf_counter() - t2))


def generator_args(images, seed, dets_per_image):
    return {"images": images, "seed": seed, "dets_per_image": dets_per_image}


def ensure(out, images=500, seed=0, dets_per_image=100, log=print):
    """Generates into `out` unless it holds instances.json made with these arguments (or by hand)."""
    instances, args = os.path.join(out, "instances.json"), os.path.join(out, "generator.json")
    if os.path.exists(instances):
        if not os.path.exists(args):
            return
        with open(args) as f:
            if json.load(f) == generator_args(images, seed, dets_per_image):
                return
    generate(out, images, seed, dets_per_image, log)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dets-per-image", type=int, default=100)
    args = parser.parse_args()
    generate(args.out, args.images, args.seed, args.dets_per_image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
