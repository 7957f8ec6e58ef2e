#!/usr/bin/env python3
"""Table of scripts/underfit_search.sh's runs: per (lr, λ), the final training loss with decay on
the conv weights and without it (mean ± std over seeds), their gap, and the training loss after
every epoch (how the gap develops). Usage: scripts/underfit_summary.py OUT_DIR"""
import json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
curves = defaultdict(dict)  # (lr, arm) -> seed -> [train_loss per epoch]
probes = defaultdict(dict)  # (lr, arm) -> seed -> last effective lr (median over layers)
for name in sorted(os.listdir(out)):
    m = re.fullmatch(r"lr([^_]+)_(none|l2[^_]+)_s(\d+)", name)
    path = os.path.join(out, name, "metrics.jsonl")
    if not m or not os.path.exists(path):
        continue
    lr, arm, seed = m.group(1), m.group(2), int(m.group(3))
    losses, eff = [], float("nan")
    for line in open(path):
        r = json.loads(line)
        if r.get("kind") == "epoch":
            losses.append(r["train_loss"])
        elif r.get("kind") == "probe":
            eff = r["effective_lr_median"]
    curves[(lr, arm)][seed] = losses
    probes[(lr, arm)][seed] = eff

def mean_std(v):
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)

print("| lr | conv decay | seeds | final train loss | no decay minus decay | last eff. lr | train loss per epoch (mean) |")
print("|---|---|---|---|---|---|---|")
for (lr, arm) in sorted(curves, key=lambda k: (float(k[0]), k[1] != "none", k[1])):
    runs = curves[(lr, arm)]
    finals = [c[-1] for c in runs.values() if c]
    if not finals:
        continue
    m, s = mean_std(finals)
    gap = ""
    if arm != "none" and (lr, "none") in curves:
        common = [sd for sd in runs if sd in curves[(lr, "none")] and runs[sd] and curves[(lr, "none")][sd]]
        diffs = [curves[(lr, "none")][sd][-1] - runs[sd][-1] for sd in common]
        if diffs:
            dm, ds = mean_std(diffs)
            gap = f"{dm:+.4f} ± {ds:.4f} ({sum(d > 0 for d in diffs)}/{len(diffs)} seeds > 0)"
    n = min(len(c) for c in runs.values())
    per_epoch = " ".join(f"{statistics.mean(c[e] for c in runs.values()):.4f}" for e in range(n))
    eff = statistics.mean(probes[(lr, arm)].values())
    label = "none" if arm == "none" else "L2 λ=" + arm[2:]
    print(f"| {lr} | {label} | {len(finals)} | {m:.4f} ± {s:.4f} | {gap} | {eff:.3g} | {per_epoch} |")
