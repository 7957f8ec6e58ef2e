#!/usr/bin/env python3
"""eshift's import of PyTorch weights against PyTorch itself (`make interop`).

For each torchvision model that eshift's registry also has: random weights (weights=None) with
random, non-trivial BatchNorm statistics and affine parameters, a fixed input batch, torchvision's
logits in eval mode; then `eshift import --from STATE_DICT --model NAME --check-input X
--check-output Y` and the largest difference between the two logits. Also converts a
legacy-format checkpoint dict with scripts/convert_legacy_checkpoint.py (after checking that
eshift refuses it with the conversion hint) and imports the result.

Prints one line per check and PASS/FAIL; exits 1 on any FAIL. Run by scripts/interop.sh with
pip's torch + torchvision.
"""
import argparse
import os
import subprocess
import sys

import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# torchvision's constructor → eshift's registry name
CANDIDATES = ["resnet18", "resnet34", "resnet50", "resnext50_32x4d", "densenet201", "shufflenet_v2_x1_0"]


def randomize_norms(model, generator):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, lo, hi in ((m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2), (m.running_mean, -0.5, 0.5),
                                  (m.running_var, 0.5, 2.0)):
                    t.copy_(torch.empty_like(t).uniform_(lo, hi, generator=generator))
                m.num_batches_tracked.fill_(1000)


def eshift(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)


def known_models(binary):
    """The candidates eshift's registry builds (`eshift import --help` does not list them: ask it)."""
    out = eshift(binary, "import", "--from", "/nonexistent.pt", "--model", "?", "--out", "/dev/null")
    known = out.stderr  # "unknown model '?' (known: resnet<6n+2> …, resnet50, …)"
    return [m for m in CANDIDATES if m in known]


def compare(name, binary, out, x, state_path, reference, tol, label=None):
    stem = name if label is None else name + "_converted"
    label = label or name
    ckpt = os.path.join(out, f"{stem}.ckpt")
    y = os.path.join(out, f"{stem}_eshift_logits.pt")
    r = eshift(binary, "import", "--from", state_path, "--model", name, "--classes", "1000", "--out", ckpt,
               "--check-input", x, "--check-output", y)
    if r.returncode != 0:
        print(f"{label:<24} FAIL  eshift import: {r.stderr.strip()}")
        return False
    logits = torch.load(y)
    diff = (logits - reference).abs().max().item()
    scale = max(1.0, reference.abs().max().item())
    ok = logits.shape == reference.shape and diff <= tol * scale
    print(f"{label:<24} {'PASS' if ok else 'FAIL'}  max abs diff {diff:.3g} (max |logit| {reference.abs().max().item():.3g},"
          f" top-1 agree {(logits.argmax(1) == reference.argmax(1)).float().mean().item():.0%})")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eshift", default=os.path.join(ROOT, "build", "eshift"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "interop"))
    parser.add_argument("--models", nargs="*", help="torchvision names (default: those eshift has of " +
                        ", ".join(CANDIDATES) + ")")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tol", type=float, default=1e-4, help="largest |difference| / max(1, max |logit|)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; eshift {args.eshift}")

    models = args.models or known_models(args.eshift)
    skipped = [m for m in CANDIDATES if m not in models]
    if skipped:
        print("not in eshift's registry, skipped: " + ", ".join(skipped))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 224, 224, generator=g)
    x_path = os.path.join(args.out, "input.pt")
    torch.save(x, x_path)

    ok = True
    for name in models:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None)
        randomize_norms(model, g)
        model.eval()
        with torch.no_grad():
            reference = model(x)
        state_path = os.path.join(args.out, f"{name}.pt")
        torch.save(model.state_dict(), state_path)
        ok &= compare(name, args.eshift, args.out, x_path, state_path, reference, args.tol)

        if name == models[0]:  # the legacy path, once: refused with the hint, converted, imported
            legacy = os.path.join(args.out, f"{name}_legacy.pth.tar")
            torch.save({"epoch": 90, "arch": name, "state_dict": nn.DataParallel(model).state_dict(),
                        "best_acc1": torch.tensor(76.1)}, legacy, _use_new_zipfile_serialization=False)
            r = eshift(args.eshift, "import", "--from", legacy, "--model", name, "--classes", "1000", "--out",
                       os.path.join(args.out, "refused.ckpt"))
            hint = r.returncode != 0 and "convert_legacy_checkpoint.py" in r.stderr
            print(f"{'legacy file refused':<24} {'PASS' if hint else 'FAIL'}  {r.stderr.strip()}")
            ok &= hint
            converted = os.path.join(args.out, f"{name}_converted.pt")
            c = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "convert_legacy_checkpoint.py"), legacy,
                                converted], capture_output=True, text=True)
            if c.returncode != 0:
                print(f"{'legacy converted':<24} FAIL  {c.stderr.strip()}")
                ok = False
            else:
                ok &= compare(name, args.eshift, args.out, x_path, converted, reference, args.tol,
                              label=f"{name} (converted)")
    print("interop: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
