#!/usr/bin/env python3
"""The ImageNet loader against torchvision's, per core (run by `make bench-loader`, part of `make bench`).

Images: real photographs, the colour photos scikit-image ships inside its wheel (astronaut, coffee,
chelsea the cat, rocket, the Hubble deep field, ...), each cut into random 4:3 crops of at least
half its area, resized to 500x375 (ImageNet's typical size) and saved as JPEG quality 90 (ImageNet's
typical quality): N images in DIR/train/<photo>/k.JPEG, made once.

Measured, same files, same transform (RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor +
Normalize), 1 and 2 workers, each worker one thread (torch.set_num_threads(1), eshift --threads 1):
  - eshift: `eshift bench --loader DIR --workers W` (BatchLoader, decoding at DCT scale)
  - libjpeg-turbo alone: every file decoded at full size (the same eshift run, files in memory)
  - torchvision: ImageFolder + PIL + DataLoader(num_workers=W)
Batches of 32 (the paper's per-GPU batch) for both.
Prints img/s per worker and the ratios. Needs torch, torchvision, pillow, scikit-image (pip).
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ESHIFT = os.path.join(HERE, "..", "build", "eshift")


def make_images(root, count):
    from PIL import Image
    import skimage.data as data
    photos = []
    for name in ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                 "cat"]:
        try:
            image = getattr(data, name)()
        except Exception:  # a photo the wheel does not ship (downloaded on first use): left out
            continue
        if image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 250:
            photos.append((name, Image.fromarray(image)))
    if not photos:
        sys.exit("bench/loader.py: scikit-image ships no colour photos here")
    rng = random.Random(0)
    for k in range(count):
        name, photo = photos[k % len(photos)]
        w, h = photo.size
        area = rng.uniform(0.5, 1.0) * w * h
        cw = min(w, int((area * 4 / 3) ** 0.5))
        ch = min(h, int(cw * 3 / 4))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = photo.crop((x, y, x + cw, y + ch)).resize((500, 375), Image.BICUBIC)
        folder = os.path.join(root, "train", name)
        os.makedirs(folder, exist_ok=True)
        crop.save(os.path.join(folder, f"{k}.JPEG"), quality=90)
    return [p[0] for p in photos]


def torchvision_rate(root, workers, batches):
    import torch
    import torchvision.datasets as datasets
    import torchvision.transforms as T
    torch.set_num_threads(1)
    transform = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    dataset = datasets.ImageFolder(os.path.join(root, "train"), transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=False)
    it = iter(loader)
    next(it)  # workers started and warm
    t0, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            x, _ = next(it)
        except StopIteration:
            break
        images += x.shape[0]
    return images / (time.perf_counter() - t0)


def eshift_rates(root, workers, images):
    out = subprocess.run([ESHIFT, "bench", "--loader", root, "--workers", str(workers), "--threads", "1",
                          "--batch-size", "32", "--images", str(images)], check=True, capture_output=True, text=True).stdout
    decode = float(re.search(r"full-size decode: ([\d.]+) img/s", out).group(1))
    load = float(re.search(r"normalize\): ([\d.]+) img/s", out).group(1))
    return load, decode


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="/tmp/eshift-bench-photos")
    p.add_argument("--images", type=int, default=1280)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if not os.path.isdir(os.path.join(a.dir, "train")):
        names = make_images(a.dir, a.images)
        print(f"made {a.images} JPEGs (500x375, quality 90) from scikit-image's photos: {', '.join(names)}")
    print(f"{os.cpu_count()} cores; {a.repeats} repetitions each, median (min-max)")
    for workers in (1, 2):
        ours, decode, theirs = [], [], []
        for _ in range(a.repeats):
            load, dec = eshift_rates(a.dir, workers, a.images)
            ours.append(load)
            decode.append(dec)
            theirs.append(torchvision_rate(a.dir, workers, (a.images // 32) - 1))
        fmt = lambda v: f"{statistics.median(v) / workers:6.1f} ({min(v) / workers:.1f}-{max(v) / workers:.1f})"
        print(f"{workers} worker(s), img/s per worker: eshift {fmt(ours)} | libjpeg-turbo full decode {fmt(decode)} | "
              f"torchvision {fmt(theirs)}")
        print(f"  eshift / torchvision: {statistics.median(ours) / statistics.median(theirs):.2f}x; "
              f"eshift time per image / full-decode time: {statistics.median(decode) / statistics.median(ours):.2f}")


if __name__ == "__main__":
    main()
