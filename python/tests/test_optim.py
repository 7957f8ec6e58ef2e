"""eshift.optim: every optimizer and decay mode against a float64 reference written here from the
formulas (src/optim/regularized_sgd.h, regularized_adam.h, src/regularize/regularizer.h), against
torch.optim where torch has the same optimizer, and against clovaai's SGDP/AdamP steps; state_dict,
schedulers, GradScaler, DDP."""
import copy
import math
import os

import pytest
import torch
import torch.nn.functional as F

import eshift
from conftest import batch, loss_of, max_difference, small_model, train, weight_groups

STEPS = 5
EL2 = dict(decay="el2", lam=1e-2, mineps=0.3)


# ------------------------------------------------------------------ the formulas, written out
def regularizer_gradient(w, decay, lam, mineps, family):
    """∂R/∂w per output filter: l2 λw; el2 λ[(1 − ε/r)(w − c) + c] (r: σ unbiased for WS, ‖w − μ‖ for
    CWN, ‖w‖ for WN; c: μ, or 0 for WN)."""
    if decay == "none" or lam == 0:
        return torch.zeros_like(w)
    if decay == "l2" or mineps == 0:
        return lam * w
    x = w.reshape(w.shape[0], -1)
    n = x.shape[1]
    if family == "wn":
        c, r = torch.zeros_like(x[:, :1]), x.norm(dim=1, keepdim=True)
    else:
        c = x.mean(dim=1, keepdim=True)
        r = (x - c).norm(dim=1, keepdim=True) / (math.sqrt(n - 1) if family == "ws" else 1.0)
    return (lam * ((1 - mineps / r) * (x - c) + c)).reshape(w.shape)


class ReferenceSGD:
    """g ← grad + ∂R (coupled); LARS: g ← c‖p‖/‖g‖·g (dim > 1); buf ← g, then α·buf + (1 − d)·g;
    u ← g + α·buf (nesterov) or buf; decoupled: p ← p − η·∂R; p ← p − η·u."""

    def __init__(self, groups, lr, momentum=0.0, dampening=0.0, nesterov=False, decay="none", lam=0.0, mineps=0.0,
                 family="ws", decoupled=False, trust_coefficient=0.0):
        defaults = {k: v for k, v in locals().items() if k not in ("self", "groups")}
        self.groups, self.buffers = [(g["params"], dict(defaults, **g)) for g in groups], {}

    @torch.no_grad()
    def step(self):
        for params, o in self.groups:
            self.step_group(params, o)

    def step_group(self, params, o):
        for p in params:
            reg = regularizer_gradient(p, o["decay"], o["lam"], o["mineps"], o["family"])
            g = p.grad.clone()
            if not o["decoupled"]:
                g += reg
            if o["trust_coefficient"] > 0 and p.dim() > 1:
                pn, gn = p.norm().item(), g.norm().item()
                g *= o["trust_coefficient"] * pn / gn if pn > 0 and gn > 0 else 1.0
            u = g
            if o["momentum"]:
                buf = self.buffers.get(p)
                buf = g.clone() if buf is None else o["momentum"] * buf + (1 - o["dampening"]) * g
                self.buffers[p] = buf
                u = g + o["momentum"] * buf if o["nesterov"] else buf
            if o["decoupled"]:
                p -= o["lr"] * reg
            p -= o["lr"] * u

    def zero_grad(self):
        for params, _ in self.groups:
            for p in params:
                p.grad = None


class ReferenceAdam:
    """g ← grad + ∂R (coupled); m, v moments; denom = √v/√(1 − β₂ᵗ) + e; Adam/AdamW: decoupled
    p ← p − η∂R, then p ← p − η/(1 − β₁ᵗ)·m/denom; LAMB: u = m/(1 − β₁ᵗ)/denom + ∂R (decoupled),
    p ← p − η·(‖p‖/‖u‖)·u for dim > 1."""

    def __init__(self, groups, lr, betas=(0.9, 0.999), eps=1e-8, decay="none", lam=0.0, mineps=0.0, family="ws",
                 decoupled=False, trust_ratio=False):
        defaults = {k: v for k, v in locals().items() if k not in ("self", "groups")}
        self.groups, self.state = [(g["params"], dict(defaults, **g)) for g in groups], {}

    @torch.no_grad()
    def step(self):
        for params, o in self.groups:
            self.step_group(params, o)

    def step_group(self, params, o):
        b1, b2 = o["betas"]
        for p in params:
            reg = regularizer_gradient(p, o["decay"], o["lam"], o["mineps"], o["family"])
            g = p.grad + (0 if o["decoupled"] else reg)
            t, m, v = self.state.get(p, (0, torch.zeros_like(p), torch.zeros_like(p)))
            t, m, v = t + 1, b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            self.state[p] = (t, m, v)
            denom = v.sqrt() / math.sqrt(1 - b2 ** t) + o["eps"]
            if o["trust_ratio"]:
                u = m / (1 - b1 ** t) / denom + (reg if o["decoupled"] else 0)
                pn, un = p.norm().item(), u.norm().item()
                p -= o["lr"] * (pn / un if p.dim() > 1 and pn > 0 and un > 0 else 1.0) * u
                continue
            if o["decoupled"]:
                p -= o["lr"] * reg
            p -= o["lr"] / (1 - b1 ** t) * m / denom

    def zero_grad(self):
        for params, _ in self.groups:
            for p in params:
                p.grad = None


def compare(make_eshift, make_reference, steps=STEPS, decay=None):
    """Trains two copies of small_model, one with each optimizer, given weight_groups(model, decay)
    (or the parameters when decay is None); the largest parameter difference."""
    x, y = batch()
    a = small_model()
    b = copy.deepcopy(a)
    train(a, make_eshift(weight_groups(a, decay) if decay is not None else a.parameters()), steps, x, y)
    train(b, make_reference(weight_groups(b, decay) if decay is not None else b.parameters()), steps, x, y)
    assert max_difference(a, small_model()) > 1e-3  # the parameters moved
    return max_difference(a, b)


DECAYS = [dict(decay="none"), dict(decay="l2", lam=1e-2), dict(decay="el2", lam=1e-2, mineps=0.3),
          dict(decay="el2", lam=1e-2, mineps=0.3, family="wn"), dict(decay="el2", lam=1e-2, mineps=0.3, family="cwn")]


@pytest.mark.parametrize("decay", DECAYS, ids=lambda d: d["decay"] + "-" + d.get("family", "ws"))
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("sgd", [dict(momentum=0.0), dict(momentum=0.9, dampening=0.1),
                                 dict(momentum=0.9, nesterov=True), dict(momentum=0.9, trust_coefficient=0.02)],
                         ids=["plain", "momentum", "nesterov", "lars"])
def test_sgd_family_equals_the_formulas(sgd, decay, decoupled):
    o = dict(lr=0.1, **sgd, decoupled=decoupled)
    if "trust_coefficient" in o:
        make = lambda gs: eshift.optim.LARS(gs, **o)  # noqa: E731
    else:
        make = lambda gs: eshift.optim.SGD(gs, **o)  # noqa: E731
    assert compare(make, lambda gs: ReferenceSGD(gs, **o), decay=decay) <= 1e-12


@pytest.mark.parametrize("decay", DECAYS, ids=lambda d: d["decay"] + "-" + d.get("family", "ws"))
@pytest.mark.parametrize("kind", ["adam", "adamw", "lamb"])
def test_adam_family_equals_the_formulas(kind, decay):
    o = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    make = {"adam": lambda gs: eshift.optim.Adam(gs, **o), "adamw": lambda gs: eshift.optim.AdamW(gs, **o),
            "lamb": lambda gs: eshift.optim.LAMB(gs, **o)}[kind]
    ref = dict(o, decoupled=kind != "adam", trust_ratio=kind == "lamb")
    assert compare(make, lambda gs: ReferenceAdam(gs, **ref), decay=decay) <= 1e-12


@pytest.mark.parametrize("pair", ["sgd", "adam", "adamw"])
def test_l2_equals_torch_optim(pair):
    if pair == "sgd":
        mine = lambda ps: eshift.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, decay="l2", lam=1e-2)  # noqa
        theirs = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)  # noqa
    elif pair == "adam":
        mine = lambda ps: eshift.optim.Adam(ps, lr=0.01, decay="l2", lam=1e-2)  # noqa
        theirs = lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-2)  # noqa
    else:
        mine = lambda ps: eshift.optim.AdamW(ps, lr=0.01, lam=1e-2)  # noqa
        theirs = lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=1e-2)  # noqa
    assert compare(mine, theirs) <= 1e-12


# ------------------------------------------------------------------ SGDP / AdamP: clovaai's steps
def clovaai_projection(p, grad, perturb, delta, wd_ratio, eps):
    expand = [-1] + [1] * (p.dim() - 1)
    for view in (lambda t: t.reshape(t.size(0), -1), lambda t: t.reshape(1, -1)):
        cosine = F.cosine_similarity(view(grad), view(p), dim=1, eps=eps).abs()
        if cosine.max() < delta / math.sqrt(view(p).size(1)):
            p_n = p / view(p).norm(dim=1).view(expand).add(eps)
            perturb -= p_n * view(p_n * perturb).sum(dim=1).view(expand)  # in place: SGDP's buffer too
            return perturb, wd_ratio
    return perturb, 1.0


class ClovaaiSGDP:
    def __init__(self, params, lr, momentum, weight_decay, delta=0.1, wd_ratio=0.1, eps=1e-8):
        self.params, self.o, self.buffers = list(params), dict(locals()), {}
        self.projected = 0

    @torch.no_grad()
    def step(self):
        o = self.o
        for p in self.params:
            buf = self.buffers.get(p, torch.zeros_like(p)) * o["momentum"] + p.grad
            self.buffers[p] = buf
            d_p, ratio = buf, 1.0
            if p.dim() > 1:
                d_p, ratio = clovaai_projection(p, p.grad, d_p, o["delta"], o["wd_ratio"], o["eps"])
                self.projected += ratio != 1.0
            p.mul_(1 - o["lr"] * o["weight_decay"] * ratio / (1 - o["momentum"]))
            p -= o["lr"] * d_p

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class ClovaaiAdamP:
    def __init__(self, params, lr, betas, weight_decay, eps=1e-8, delta=0.1, wd_ratio=0.1):
        self.params, self.o, self.state = list(params), dict(locals()), {}
        self.projected = 0

    @torch.no_grad()
    def step(self):
        o = self.o
        b1, b2 = o["betas"]
        for p in self.params:
            t, m, v = self.state.get(p, (0, torch.zeros_like(p), torch.zeros_like(p)))
            t, m, v = t + 1, m * b1 + (1 - b1) * p.grad, v * b2 + (1 - b2) * p.grad * p.grad
            self.state[p] = (t, m, v)
            denom = v.sqrt() / math.sqrt(1 - b2 ** t) + o["eps"]
            perturb, ratio = m / denom, 1.0
            if p.dim() > 1:
                perturb, ratio = clovaai_projection(p, p.grad, perturb, o["delta"], o["wd_ratio"], o["eps"])
                self.projected += ratio != 1.0
            p.mul_(1 - o["lr"] * o["weight_decay"] * ratio)
            p -= o["lr"] / (1 - b1 ** t) * perturb

    def zero_grad(self):
        for p in self.params:
            p.grad = None


@pytest.mark.parametrize("kind", ["sgdp", "adamp"])
def test_sgdp_and_adamp_equal_clovaai(kind):
    refs = []

    def reference(ps):
        refs.append(ClovaaiSGDP(ps, lr=0.1, momentum=0.9, weight_decay=1e-2) if kind == "sgdp"
                    else ClovaaiAdamP(ps, lr=0.01, betas=(0.9, 0.999), weight_decay=1e-2))
        return refs[-1]

    if kind == "sgdp":
        mine = lambda ps: eshift.optim.SGDP(ps, lr=0.1, momentum=0.9, lam=1e-2)  # noqa: E731
    else:
        mine = lambda ps: eshift.optim.AdamP(ps, lr=0.01, lam=1e-2)  # noqa: E731
    assert compare(mine, reference) <= 1e-12
    assert refs[0].projected > 0  # the WS conv's weight is scale-invariant: projected


# ------------------------------------------------------------------ torch.optim's machinery
@pytest.mark.parametrize("cls", [eshift.optim.SGD, eshift.optim.Adam])
def test_state_dict_round_trip_continues_bit_identically(cls):
    x, y = batch()
    kwargs = dict(lr=0.05) | ({"momentum": 0.9} if cls is eshift.optim.SGD else {})
    el2 = dict(decay="el2", lam=1e-2, mineps=0.3)
    a = small_model()
    opt_a = cls(weight_groups(a, el2), **kwargs)
    train(a, opt_a, 3, x, y)
    b = copy.deepcopy(a)
    opt_b = cls(weight_groups(b, el2), **kwargs)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    assert len(opt_b.state) == len(list(b.parameters()))
    train(a, opt_a, 3, x, y)
    train(b, opt_b, 3, x, y)
    assert max_difference(a, b) == 0.0


def test_groups_schedulers_and_add_param_group():
    model = small_model()
    params = list(model.parameters())
    opt = eshift.optim.SGD([{"params": params[:1], "decay": "el2", "lam": 1e-3, "mineps": 1e-2}], lr=0.1,
                           momentum=0.9, decay="l2", lam=1e-4)
    opt.add_param_group({"params": params[1:]})
    assert opt.param_groups[0]["decay"] == "el2" and opt.param_groups[1]["decay"] == "l2"
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = batch()
    before = [p.detach().clone() for p in params]
    opt.zero_grad()
    loss_of(model, x, y).backward()
    grads = [p.grad.clone() for p in params]
    opt.step()
    scheduler.step()
    assert opt.param_groups[1]["lr"] == 0.05
    # a bias of group 1: first step with momentum, l2 λ = 1e-4, lr 0.1
    last = len(params) - 1
    expected = before[last] - 0.1 * (grads[last] + 1e-4 * before[last])
    assert torch.allclose(params[last].detach(), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("bad, message", [
    (dict(momentum=-1.0), "invalid momentum"),
    (dict(decay="l3"), "decay must be 'none', 'l2' or 'el2'"),
    (dict(decay="el2", lam=1e-4, mineps=-1.0), "ε must be >= 0"),
    (dict(nesterov=True), "nesterov momentum requires a momentum"),
    (dict(family="bn", decay="el2"), "bn"),
])
def test_impossible_options_raise_value_error_naming_them(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        eshift.optim.SGD(small_model().parameters(), lr=0.1, **bad)


def test_el2_on_a_parameter_without_filters_is_refused_naming_its_shape():
    with pytest.raises(ValueError, match=r"decay='el2' works per output filter: a parameter of shape \[8\]"):
        eshift.optim.SGD(small_model().parameters(), lr=0.1, decay="el2", lam=1e-4, mineps=1e-3)


def test_grad_scaler_skips_a_step_with_an_inf_gradient():
    model = small_model(dtype=torch.float32)
    x, y = batch(dtype=torch.float32)
    opt = eshift.optim.SGD(weight_groups(model, EL2), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = copy.deepcopy(model)
    opt.zero_grad()
    scaler.scale(loss_of(model, x, y)).backward()
    next(model.parameters()).grad[0].view(-1)[0] = float("inf")
    scaler.step(opt)
    scaler.update()
    assert max_difference(model, before) == 0.0 and len(opt.state) == 0  # skipped
    assert scaler.get_scale() == 512.0
    opt.zero_grad()
    scaler.scale(loss_of(model, x, y)).backward()
    scaler.step(opt)
    scaler.update()
    assert max_difference(model, before) > 0  # taken


def _ddp_worker(rank, world, port, out_dir):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = torch.nn.parallel.DistributedDataParallel(small_model())
    opt = eshift.optim.SGD(weight_groups(model, EL2), lr=0.1, momentum=0.9)
    x, y = batch(n=8)
    half = slice(rank * 4, rank * 4 + 4)
    train(model, opt, STEPS, x[half], y[half])
    if rank == 0:
        torch.save(model.module.state_dict(), os.path.join(out_dir, "ddp.pt"))
    dist.destroy_process_group()


def test_two_process_gloo_ddp_equals_one_process(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    one = small_model()
    x, y = batch(n=8)
    train(one, eshift.optim.SGD(weight_groups(one, EL2), lr=0.1, momentum=0.9), STEPS, x, y)
    two = small_model()
    two.load_state_dict(torch.load(tmp_path / "ddp.pt"))
    assert max_difference(one, two) <= 1e-12
