"""eshift.probes: the records against the formulas computed here from the weights before and after
the probed step, the schedule of probes, the float16 margin at a GradScaler's scale, and the
σ-collapse warning under plain L2 but not under the ε-shifted L2."""
import math
import warnings

import pytest
import torch

import eshift
from conftest import batch, loss_of, weight_groups


def ws_model(dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Sequential(eshift.nn.WSConv2d(3, 7, 3, padding=1, bias=False), torch.nn.GroupNorm(1, 7),
                               torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(7, 5)).to(dtype)


def centered_rows(w):
    rows = w.detach().reshape(w.shape[0], -1)
    return rows - rows.mean(dim=1, keepdim=True)


def test_a_probe_measures_its_step_by_the_formulas():
    model = ws_model()
    opt = eshift.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, decay="l2", lam=1e-2)
    probes = eshift.probes.attach(model, opt, every=2, eps=1e-3)
    x, y = batch()
    w = model[0].weight
    for _ in range(4):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        before, grad = w.detach().clone(), w.grad.clone()
        opt.step()
    assert [r["step"] for r in probes.records] == [2, 4]
    record = probes.records[-1]
    assert len(record["layers"]) == 1  # the WS conv; the classifier is not probed
    layer = record["layers"][0]
    assert (layer["name"], layer["family"], layer["filters"], layer["fan_in"]) == ("0.weight", "ws", 7, 27)
    after = centered_rows(w)
    # effective learning rate of a WS filter: η/‖w − μ‖², median over the 7 filters
    assert math.isclose(layer["effective_lr"], (0.1 / after.norm(dim=1) ** 2).median().item(), rel_tol=1e-12)
    # σ unbiased
    sigma = w.detach().reshape(7, -1).std(dim=1)
    assert math.isclose(layer["sigma"]["min"], sigma.min().item(), rel_tol=1e-12)
    assert math.isclose(record["sigma_min"], sigma.min().item(), rel_tol=1e-12)
    # angular update: the angle between the centered directions before and after the step
    a = centered_rows(before)
    a, b = a / a.norm(dim=1, keepdim=True), after / after.norm(dim=1, keepdim=True)
    angles = torch.acos((a * b).sum(dim=1).clamp(-1, 1))
    assert math.isclose(layer["angular_update"], angles.median().item(), rel_tol=1e-6)
    assert layer["angular_update"] > 0
    assert math.isclose(layer["grad_max_abs"], grad.abs().max().item(), rel_tol=1e-15)
    assert math.isclose(layer["fp16_ratio"], grad.abs().max().item() / 65504, rel_tol=1e-15)
    probes.remove()
    opt.zero_grad()
    loss_of(model, x, y).backward()
    opt.step()
    opt.step()
    assert len(probes.records) == 2  # removed


def test_the_float16_margin_uses_the_scalers_scale():
    model = ws_model(torch.float32)
    opt = eshift.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=4096.0)
    probes = eshift.probes.attach(model, opt, every=1, scaler=scaler)
    x, y = batch(dtype=torch.float32)
    scaler.scale(loss_of(model, x, y)).backward()
    scaler.step(opt)
    record = probes.records[0]
    assert record["loss_scale"] == 4096.0
    assert math.isclose(record["fp16_scaled_ratio"], record["grad_max_abs"] * 4096.0 / 65504, rel_tol=1e-12)


@pytest.mark.parametrize("decay", ["l2", "el2"])
def test_sigma_collapse_warns_under_plain_l2_only(decay):
    # strong decay: plain L2 halves the WS conv's σ every step; the ε-shifted L2 holds it above ε
    model = ws_model()
    opt = eshift.optim.SGD(weight_groups(model, dict(decay=decay, lam=1.0, mineps=0.05)), lr=0.5)
    probes = eshift.probes.attach(model, opt, every=1, eps=0.05)
    x, y = batch()
    initial = model[0].weight.detach().reshape(7, -1).std(dim=1).min().item()
    assert initial > 0.05
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(8):
            opt.zero_grad()
            loss_of(model, x, y).backward()
            opt.step()
    sigmas = [r["sigma_min"] for r in probes.records]
    if decay == "l2":
        assert sigmas[-1] < 0.05
        assert probes.warnings and any("decay='el2'" in str(w.message) for w in caught)
    else:
        assert min(sigmas) >= 0.05
        assert not probes.warnings


def test_every_must_be_positive():
    model = ws_model()
    with pytest.raises(ValueError, match="every must be >= 1"):
        eshift.probes.attach(model, eshift.optim.SGD(model.parameters(), lr=0.1), every=0)


def test_the_example_script_trains_and_probes(tmp_path):
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_torchvision.py")
    r = subprocess.run([sys.executable, script, "--epochs", "1", "--max-steps", "4", "--probe-every", "2",
                        "--batch-size", "8", "--device", "cpu"], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    probe_lines = [l for l in r.stdout.splitlines() if l.startswith("step ") and "σ min" in l]
    assert [l.split()[1] for l in probe_lines] == ["2", "4"], r.stdout
    assert "eps-l2[ws]" in r.stdout  # the decay table: the conv weights get the ε-shift
    loss = float(r.stdout.split("last loss ")[-1])
    assert math.isfinite(loss)
