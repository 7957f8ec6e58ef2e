#!/usr/bin/env python3
"""torchvision's ResNet-18 with weight standardization, trained with the ε-shifted L2 from Python.

The three eshift lines are marked (1)-(3); the rest is an ordinary PyTorch loop: torchvision's
ImageFolder, mixed precision (bfloat16 autocast on CPU, float16 with a GradScaler on CUDA), a
learning-rate schedule. Without --data it trains on a generated folder of coloured shapes (one class
a shape). Run `python examples/train_torchvision.py --help`.
"""
import argparse
import os
import tempfile

import torch
import torchvision
from torchvision import transforms

import eshift


def generate_folder(root, images_per_class=24, size=64):
    """An ImageFolder tree: class_k/ holds images of shape k (disc, square, triangle) on noise."""
    from PIL import Image, ImageDraw

    g = torch.Generator().manual_seed(0)
    for k, shape in enumerate(["disc", "square", "triangle"]):
        os.makedirs(os.path.join(root, shape), exist_ok=True)
        for i in range(images_per_class):
            noise = (torch.rand(size, size, 3, generator=g) * 120).byte().numpy()
            im = Image.fromarray(noise)
            d = ImageDraw.Draw(im)
            c = tuple(int(v) for v in (torch.rand(3, generator=g) * 135 + 120))
            x, y, r = (int(v) for v in (torch.rand(3, generator=g) * torch.tensor([24, 24, 10]) + torch.tensor([20, 20, 10])))
            if shape == "disc":
                d.ellipse([x - r, y - r, x + r, y + r], fill=c)
            elif shape == "square":
                d.rectangle([x - r, y - r, x + r, y + r], fill=c)
            else:
                d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=c)
            im.save(os.path.join(root, shape, f"{i}.png"))
    return root


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="an ImageFolder root (default: a generated one in a temporary folder)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--decay", choices=["l2", "el2"], default="el2", help="conv weights: plain or ε-shifted L2")
    ap.add_argument("--lam", type=float, default=1e-4, help="λ of the conv weights' decay")
    ap.add_argument("--mineps", type=float, default=1e-3, help="ε of the ε-shifted L2")
    ap.add_argument("--probe-every", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: all epochs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    root = args.data or generate_folder(tempfile.mkdtemp(prefix="eshift-example-"))
    data = torchvision.datasets.ImageFolder(root, transforms.Compose([
        transforms.RandomResizedCrop(64, scale=(0.6, 1.0)), transforms.RandomHorizontalFlip(), transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, num_workers=2)

    model = torchvision.models.resnet18(num_classes=len(data.classes))
    eshift.nn.convert(model, "ws")                                                          # (1) WS convs
    groups = eshift.param_groups(model, wd=1e-4, el2=args.decay == "el2", lam=args.lam,     # (2) decay by role
                                 mineps=args.mineps, nowd_conv=args.decay == "el2", verbose=True)
    model.to(args.device)
    optimizer = eshift.optim.SGD(groups, lr=args.lr, momentum=0.9)                          # (3) the optimizer
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))

    cuda = args.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    probes = eshift.probes.attach(model, optimizer, every=args.probe_every, eps=args.mineps, scaler=scaler)
    step = 0
    for epoch in range(args.epochs):
        for images, labels in loader:
            images, labels = images.to(args.device), labels.to(args.device)
            with torch.autocast(args.device.split(":")[0], dtype=torch.float16 if cuda else torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            if probes.records and probes.records[-1]["step"] == step:
                r = probes.records[-1]
                print(f"step {step} loss {loss.item():.4f} | probe: σ min {r['sigma_min']:.3g}, "
                      f"effective lr {r['effective_lr_median']:.3g}, angular update {r['angular_update_median']:.3g} rad",
                      flush=True)
            if args.max_steps and step >= args.max_steps:
                break
        print(f"epoch {epoch + 1}: last loss {loss.item():.4f}", flush=True)
        if args.max_steps and step >= args.max_steps:
            break


if __name__ == "__main__":
    main()
