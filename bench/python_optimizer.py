#!/usr/bin/env python3
"""The ε-shifted SGD step from Python over torchvision ResNet-50's parameters, three ways, same run:
  eshift   eshift.optim.SGD (the package; the step in C++ over each group)
  lsgd     the paper's LSGD as its code does it: a Python loop over parameters, the ε-term
           λ[(1 − ε/σ)(w − μ) + μ] (σ unbiased, per output filter) added to the gradient of every
           4-D non-depthwise weight, then momentum SGD (paper.md §3)
  foreach  the same step written for this benchmark with torch._foreach_*: the ε-term per tensor
           (per-filter statistics have no foreach form), momentum and update as foreach calls
All three take the same groups: conv weights el2 (λ 1e-4, ε 1e-3), BN γ and the fc weight l2 1e-4,
biases and β none; momentum 0.9, lr 0.1; float32 on --device. Reports ms per step (median of
--steps after --warmup) and the ratios, alternating the three --reps times. Each result is checked
against eshift's (the parameters after the timed steps of each side from the same start).

  python bench/python_optimizer.py [--threads 2] [--device cpu]
"""
import argparse
import copy
import statistics
import time

import torch
import torchvision

import eshift

LAM, EPS, WD, LR, MOMENTUM = 1e-4, 1e-3, 1e-4, 0.1, 0.9


def groups_of(model):
    conv, decay, none = [], [], []
    for m in model.modules():
        for name, p in m.named_parameters(recurse=False):
            if isinstance(m, torch.nn.Conv2d) and name == "weight":
                conv.append(p)
            elif name == "weight":
                decay.append(p)
            else:
                none.append(p)
    return conv, decay, none


def el2_term(w):
    x = w.view(w.size(0), -1)
    mean = x.mean(dim=1, keepdim=True)
    std = x.std(dim=1, keepdim=True)
    return (LAM * ((1 - EPS / std) * (x - mean) + mean)).view_as(w)


class LSGD:
    """The reference's step: one parameter at a time."""

    def __init__(self, model):
        self.conv, self.decay, self.none = groups_of(model)
        self.buffers = {}

    @torch.no_grad()
    def step(self):
        for kind, params in (("el2", self.conv), ("l2", self.decay), ("none", self.none)):
            for p in params:
                d_p = p.grad.clone()
                if kind == "l2":
                    d_p.add_(p, alpha=WD)
                elif kind == "el2" and p.dim() == 4 and p.shape[1] != 1:
                    d_p.add_(el2_term(p))
                buf = self.buffers.get(p)
                if buf is None:
                    buf = self.buffers[p] = d_p.clone()
                else:
                    buf.mul_(MOMENTUM).add_(d_p)
                p.add_(buf, alpha=-LR)


class ForeachSGD:
    """The same step with torch._foreach_* where a foreach form exists."""

    def __init__(self, model):
        self.conv, self.decay, self.none = groups_of(model)
        self.params = self.conv + self.decay + self.none
        self.buffers = None

    @torch.no_grad()
    def step(self):
        grads = [p.grad.clone() for p in self.params]
        n_conv, n_decay = len(self.conv), len(self.decay)
        torch._foreach_add_(grads[:n_conv], [el2_term(p) for p in self.conv])
        torch._foreach_add_(grads[n_conv:n_conv + n_decay], self.decay, alpha=WD)
        if self.buffers is None:
            self.buffers = grads
        else:
            torch._foreach_mul_(self.buffers, MOMENTUM)
            torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(self.params, self.buffers, alpha=-LR)


def make_eshift(model):
    conv, decay, none = groups_of(model)
    return eshift.optim.SGD([{"params": conv, "decay": "el2", "lam": LAM, "mineps": EPS},
                             {"params": decay, "decay": "l2", "lam": WD}, {"params": none}], lr=LR, momentum=MOMENTUM)


def timed(make, base, grads, steps, warmup, device):
    model = copy.deepcopy(base)
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    opt = make(model)
    times = []
    for i in range(warmup + steps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = torchvision.models.resnet50().to(args.device)
    grads = [torch.randn_like(p) * 1e-2 for p in base.parameters()]
    n = sum(p.numel() for p in base.parameters())
    print(f"ResNet-50: {len(grads)} tensors, {n / 1e6:.1f} M parameters; torch {torch.__version__}, "
          f"{args.threads} threads, {args.device}; ms per step, median of {args.steps}")
    sides = {"eshift": make_eshift, "lsgd": LSGD, "foreach": ForeachSGD}
    for rep in range(args.reps):
        ms, models = {}, {}
        for name, make in sides.items():
            ms[name], models[name] = timed(make, base, grads, args.steps, args.warmup, args.device)
        diff = {k: max((a - b).abs().max().item() for a, b in zip(models["eshift"].parameters(), models[k].parameters()))
                for k in ("lsgd", "foreach")}
        print(f"rep {rep + 1}: eshift {ms['eshift']:.1f}  lsgd {ms['lsgd']:.1f}  foreach {ms['foreach']:.1f}  |  "
              f"lsgd/eshift {ms['lsgd'] / ms['eshift']:.2f}x  foreach/eshift {ms['foreach'] / ms['eshift']:.2f}x  |  "
              f"max |Δw| vs eshift: lsgd {diff['lsgd']:.1e}, foreach {diff['foreach']:.1e}")


if __name__ == "__main__":
    main()
