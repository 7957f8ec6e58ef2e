#!/usr/bin/python3
"""The paper's public code semantics in PyTorch, timed the way `eshift bench` times itself.

Written from ../shared/paper.md §1 and §3 (the reference's WS conv: unbiased std, delta = 1e-5
outside the sqrt; its LSGD step: the eps-shifted term lam*((1 - eps/std)(w - mean) + mean) added to
the gradient before momentum on every non-depthwise 4-D weight, ordinary weight decay elsewhere,
none on biases). Models: the CIFAR ResNet (same layout as eshift's: option-B 1x1 projection
shortcuts) and the ImageNet ResNet-50, every conv weight-standardized, BN after each.

Modes:  published  NCHW, exactly as the reference runs on CPU
        best       channels_last memory format end to end (the best CPU configuration found)

GPU runs (scripts/gpu-check.sh): --device cuda, --amp fp16|bf16 (torch.autocast around forward and
loss; fp16 with torch's GradScaler, the step on unscaled gradients), --compile (torch.compile of the
model, its compilation in the warm-up steps).

Prints one JSON line: {"impl": "pytorch-<mode>", "img_per_s": median, "step_ms": [...], "peak_rss_mb": ...,
"peak_gpu_mb": ... (CUDA), "skipped_steps": ... (fp16)}.
Uses Debian's python3-torch on CPU (run with /usr/bin/python3); any PyTorch >= 2.0 for --compile.
"""
import argparse
import sys
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.optimizer import Optimizer


class WSConv2d(nn.Conv2d):
    """The reference's layers.Conv2d: (w - mean) / (unbiased std + 1e-5), per output filter."""

    def forward(self, x):
        w = self.weight
        mean = w.mean(dim=1, keepdim=True).mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
        w = w - mean
        std = w.reshape(w.size(0), -1).std(dim=1).view(-1, 1, 1, 1) + 1e-5
        return F.conv2d(x, w / std.expand_as(w), self.bias, self.stride, self.padding, self.dilation, self.groups)


class LSGD(Optimizer):
    """The reference's SGD step with the eps-shifted L2 term (paper.md §3)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, lam=1e-4, mineps=1e-3, el2=True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.lam, self.mineps, self.el2 = lam, mineps, el2

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            wd, momentum = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if wd != 0:
                    d_p = d_p.add(p, alpha=wd)
                if self.el2 and p.dim() == 4 and p.shape[1] != 1:
                    w = p.reshape(p.shape[0], -1)
                    std = w.std(dim=1).view(-1, 1, 1, 1)
                    mean = w.mean(dim=1).view(-1, 1, 1, 1)
                    d_p = d_p.add((1 - self.mineps / std) * (p - mean) + mean, alpha=self.lam)
                if momentum != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_(d_p)
                    d_p = buf
                p.add_(d_p, alpha=-group["lr"])


def conv(cin, cout, k, stride):
    return WSConv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, cout, 3, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv(cout, cout, 3, 1), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, depth, in_channels, classes, width=16):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1, self.bn1 = conv(in_channels, width, 3, 1), nn.BatchNorm2d(width)
        blocks, cin = [], width
        for stage in range(3):
            cout = width << stage
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.stages(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        cout = mid * 4
        self.conv1, self.bn1 = conv(cin, mid, 1, 1), nn.BatchNorm2d(mid)
        self.conv2, self.bn2 = conv(mid, mid, 3, stride), nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = conv(mid, cout, 1, 1), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet50(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        self.conv1 = WSConv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for stage, (count, mid) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
            for b in range(count):
                blocks.append(Bottleneck(cin, mid, 2 if stage > 0 and b == 0 else 1))
                cin = mid * 4
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def param_groups(model, wd):
    """The reference's set_optimizer with --nowd-conv: no decay on biases and 4-D weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if "bias" in name or p.dim() == 4 else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--image", default="3x32x32")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--reg", choices=["none", "l2", "el2"], default="el2")
    ap.add_argument("--mode", choices=["published", "best"], default="published")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=["off", "fp16", "bf16"], default="off")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch >= 2.0)")
    ap.add_argument("--profile", action="store_true",
                    help="print torch.profiler's per-operator self CPU times of the timed steps on stderr")
    args = ap.parse_args()
    if args.compile and not hasattr(torch, "compile"):
        ap.error(f"--compile needs PyTorch >= 2.0 (this is {torch.__version__})")
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c, h, w = (int(v) for v in args.image.split("x"))
    if args.model == "resnet50":
        model = ResNet50(c, args.classes)
    else:
        model = CifarResNet(int(args.model[len("resnet"):]), c, args.classes)
    model.train()
    x = torch.randn(args.batch_size, c, h, w)
    y = torch.randint(args.classes, (args.batch_size,))
    model, x, y = model.to(device), x.to(device), y.to(device)
    if args.mode == "best":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    wd = 0.0 if args.reg == "none" else 1e-4
    opt = LSGD(param_groups(model, wd), lr=0.01, momentum=0.9, weight_decay=wd, lam=1e-4, mineps=1e-3,
               el2=args.reg == "el2")
    if args.reg == "l2":  # plain L2 on the conv weights too
        opt = LSGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=wd, el2=False)
    forward = torch.compile(model) if args.compile else model
    low = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.amp)
    scaler = None
    if args.amp == "fp16":
        scaler = torch.amp.GradScaler(device.type) if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, skipped = [], 0
    scale = scaler.get_scale() if scaler is not None else None  # read outside the timed step
    profiler = None
    for i in range(args.warmup + args.steps):
        if args.profile and i == args.warmup:
            profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            profiler.__enter__()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=low, enabled=low is not None):
            logits = forward(x)
            loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)  # unscales, steps unless inf/NaN
            scaler.update()
        loss.item()  # waits for the device
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
        if scaler is not None:  # a skipped step halved the scale (read after the timing: it syncs)
            skipped += scaler.get_scale() < scale
            scale = scaler.get_scale()
    if profiler is not None:
        profiler.__exit__(None, None, None)
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)
    med = statistics.median(times)
    impl = "pytorch-" + args.mode + ("-compile" if args.compile else "")
    result = {"impl": impl, "img_per_s": args.batch_size / med, "step_ms": [1e3 * t for t in times],
              "threads": torch.get_num_threads(),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    if scaler is not None:
        result["skipped_steps"] = skipped
        result["loss_scale"] = scaler.get_scale()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
