"""The scale-invariance audit of `eshift audit` (src/models/audit.h) for any torch model: which
parameters are scale-invariant, measured rather than assumed.

On a float64 copy in train mode (batch statistics, as in training; dropout off), with the norm
affines and biases first randomized (γ ≈ 1 + 0.3·N(0,1), β and biases 0.5·N(0,1), so that a
symmetric initialization does not make a parameter look invariant), each parameter tensor in turn
is multiplied by c ∈ {0.5, 3} and the output on `example_input` recomputed; the largest relative
change max|z(c·p) − z(p)| / max|z(p)| below `tolerance` means invariant. A role claims invariance
for conv weights (normalized, plain and depthwise: each is expected to be followed by a norm).
"""
import copy
import warnings

import torch

from .groups import parameter_roles

INVARIANT_ROLES = ("normalized_weight", "conv_weight", "depthwise_weight")


def audit(model, example_input, tolerance=1e-3, roles=None, seed=0):
    """[{name, shape, role, family, expected_invariant, measured_invariant, relative_change}] for every
    trainable parameter; example_input: a batch (of at least 2) the model takes."""
    if tolerance <= 0:
        raise ValueError(f"audit: tolerance must be > 0, got {tolerance}")
    rows = parameter_roles(model, roles)
    m = copy.deepcopy(model).double().train()
    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.dropout._DropoutNd):
            mod.eval()
    params = dict(m.named_parameters())
    g = torch.Generator().manual_seed(seed)
    x = example_input.double()
    out = []
    with torch.no_grad():
        for name, _, role, _ in rows:
            p = params[name]
            if role == "norm_scale":
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            elif role in ("norm_shift", "bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        base = m(x)
        scale = base.abs().max().item()
        for name, _, role, family in rows:
            p = params[name]
            saved = p.clone()
            change = 0.0
            for c in (0.5, 3.0):
                p.mul_(c)
                change = max(change, (m(x) - base).abs().max().item() / scale)
                p.copy_(saved)
            out.append(dict(name=name, shape=list(p.shape), role=role, family=family,
                            expected_invariant=role in INVARIANT_ROLES, measured_invariant=change < tolerance,
                            relative_change=change))
    return out


def warn_mismatches(rows):
    """One warning naming the conv weights the decay policy treats as scale-invariant that are not
    (their layer is not followed by a normalization): the ε-shift has no σ to hold there."""
    bad = [r["name"] for r in rows if r["expected_invariant"] and not r["measured_invariant"]]
    if bad:
        warnings.warn(f"audit: {len(bad)} conv weight(s) are not scale-invariant (no normalization after them), "
                      f"so decay does not act through their scale: {', '.join(bad[:5])}" + (" …" if len(bad) > 5 else ""),
                      stacklevel=3)
    return bad
