"""Shared pieces of the Python package's tests (make test-python)."""
import copy

import pytest
import torch

import eshift


def small_model(seed=0, dtype=torch.float64):
    """A WS conv, GroupNorm, a plain conv, a depthwise conv, a classifier: every role of the decay policy."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        eshift.nn.WSConv2d(3, 8, 3, padding=1, bias=False), torch.nn.GroupNorm(2, 8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5)).to(dtype)


def batch(seed=1, dtype=torch.float64, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 5, (n,), generator=g)


def loss_of(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def train(model, optimizer, steps, x, y):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(model, x, y).backward()
        optimizer.step()


def weight_groups(model, decay):
    """The decay under test on the weights (dim > 1: the per-filter formulas need them), L2 on the rest."""
    return [{"params": [p for p in model.parameters() if p.dim() > 1], **decay},
            {"params": [p for p in model.parameters() if p.dim() <= 1], "decay": "l2", "lam": 1e-3}]


def max_difference(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.fixture
def twin_models():
    m = small_model()
    return m, copy.deepcopy(m)
