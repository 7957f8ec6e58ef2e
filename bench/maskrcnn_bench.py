#!/usr/bin/env python3
"""One training iteration of Mask R-CNN R50-FPN, eshift against torchvision, same run (`make bench-maskrcnn`).

torchvision: maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91) in training
mode (trainable BatchNorm, as eshift's --norm bn), SGD (momentum 0.9, wd 1e-4); a batch of
--batch-size random images of --height × --width (the detector's own size: its transform resizes
by 1 and pads to 32), each with six random boxes of sides 64–320 px and their rectangles as masks.
The step: forward (transform, backbone, RPN, RoI heads, the five losses), backward, optimizer step.

eshift: `eshift bench --model maskrcnn_resnet50_fpn --wnorm none --norm bn` (torchvision's layers:
plain convs, BatchNorm) on the same kind of batch, already normalized and padded, with the plain L2
(--reg l2) and the ε-shifted L2 (--reg el2), the regularized SGD step included.

Both with --threads threads, --warmup untimed steps, then the median of --steps timed ones; the runs
alternate (eshift, torchvision, eshift --reg el2). Prints ms per iteration and the ratios.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_batch(n, height, width, generator):
    images, targets = [], []
    for _ in range(n):
        side = torch.rand(6, 2, generator=generator) * 256 + 64
        w = side[:, 0].clamp(max=width - 1)
        h = side[:, 1].clamp(max=height - 1)
        x1 = torch.rand(6, generator=generator) * (width - w)
        y1 = torch.rand(6, generator=generator) * (height - h)
        boxes = torch.stack([x1, y1, x1 + w, y1 + h], 1)
        masks = torch.zeros(6, height, width, dtype=torch.uint8)
        for k, (a, b, c, d) in enumerate(boxes.tolist()):
            masks[k, int(b):int(d), int(a):int(c)] = 1
        images.append(torch.rand(3, height, width, generator=generator))
        targets.append({"boxes": boxes, "labels": torch.randint(1, 91, (6,), generator=generator), "masks": masks})
    return images, targets


def torchvision_ms(args):
    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                  min_size=args.height, max_size=args.width).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, targets = random_batch(args.batch_size, args.height, args.width, torch.Generator().manual_seed(1))
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach())
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return 1e3 * times[len(times) // 2]


def eshift_ms(args, reg):
    padded = -(-args.width // 32) * 32, -(-args.height // 32) * 32
    out = subprocess.run([args.eshift, "bench", "--model", "maskrcnn_resnet50_fpn", "--wnorm", "none", "--norm", "bn",
                          "--image", f"3x{padded[1]}x{padded[0]}", "--batch-size", str(args.batch_size),
                          "--classes", "91", "--reg", reg, "--steps", str(args.steps), "--warmup", str(args.warmup),
                          "--threads", str(args.threads)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"eshift bench failed:\n{out.stderr.strip()}")
    found = re.search(r"median ([0-9.]+) ms", out.stdout)
    if not found:
        sys.exit(f"eshift bench printed no median:\n{out.stdout}")
    return float(found.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift", default=os.path.join(ROOT, "build", "eshift"))
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--width", type=int, default=1333)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"Mask R-CNN R50-FPN, one training iteration, batch {args.batch_size} at {args.height}×{args.width}, "
          f"{args.threads} threads, torch {torch.__version__}; median of {args.steps} after {args.warmup} warm-up")
    l2 = eshift_ms(args, "l2")
    print(f"eshift (plain L2)        {l2:9.0f} ms", flush=True)
    tv = torchvision_ms(args)
    print(f"torchvision eager        {tv:9.0f} ms", flush=True)
    el2 = eshift_ms(args, "el2")
    print(f"eshift (ε-shifted L2)    {el2:9.0f} ms", flush=True)
    print(f"eshift / torchvision speed: {tv / l2:.2f}× (plain L2), {tv / el2:.2f}× (ε-shifted L2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
