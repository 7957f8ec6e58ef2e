"""eshift's optimizers as torch.optim.Optimizer subclasses, each step run in C++ over a group.

Every optimizer takes, per parameter group, the weight decay as a regularizer (the C++ header
src/regularize/regularizer.h has the formulas):
    decay      'none' | 'l2' | 'el2'  (el2: the ε-shifted L2 of arXiv:1911.05920)
    lam        its strength λ
    mineps     its ε (the reference's --mineps; `eps` is Adam's ε)
    family     'ws' | 'cwn' | 'wn': which ε-shifted formula (that of the layer's normalization)
    decoupled  applied outside the gradient (AdamW's way) instead of added to it
The steps are those of src/optim/regularized_sgd.h (SGD, LARS, SGDP) and regularized_adam.h (Adam,
AdamW, LAMB, AdamP). State lives in `optimizer.state` as torch's optimizers keep it
('momentum_buffer'; 'step', 'exp_avg', 'exp_avg_sq'), so state_dict(), load_state_dict(),
add_param_group, learning-rate schedulers, torch.amp.GradScaler and DDP work as with torch.optim.
"""
import torch

from . import _C

_DECAY_DEFAULTS = dict(decay="none", lam=0.0, mineps=0.0, family="ws", decoupled=False)


class _RegularizedOptimizer(torch.optim.Optimizer):
    """The shared machinery: defaults, checks in C++ on every group, the step."""

    _forced = {}  # options the optimizer's definition fixes (AdamW: decoupled)

    def __init__(self, params, defaults):
        defaults = dict(defaults, **self._forced)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        param_group.update(self._forced)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self._check(group)
        if group["decay"] == "el2":
            for p in group["params"]:
                if p.dim() < 2:
                    raise ValueError(f"decay='el2' works per output filter: a parameter of shape {list(p.shape)} "
                                     "(a bias, a norm's scale) needs a group of its own (eshift.param_groups makes them)")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("eshift optimizers do not take sparse gradients")
            if params:
                self._step_group(group, params, [p.grad for p in params])
        return loss


class SGD(_RegularizedOptimizer):
    """SGD with momentum, dampening and Nesterov; the regularizer enters the gradient before
    momentum when coupled (the paper's LSGD). With decay='l2' this is torch.optim.SGD(weight_decay=lam)."""

    def __init__(self, params, lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, decay="none", lam=0.0,
                 mineps=0.0, family="ws", decoupled=False, **extra):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, decay=decay, lam=lam,
                        mineps=mineps, family=family, decoupled=decoupled, trust_coefficient=0.0,
                        projection="off", delta=0.1, wd_ratio=0.1, eps=1e-8)
        defaults.update(extra)
        super().__init__(params, defaults)

    @staticmethod
    def _check(group):
        _C.check_sgd_group(group)

    def _step_group(self, group, params, grads):
        buffers = [self.state[p].get("momentum_buffer") for p in params]
        buffers = _C.sgd_step(params, grads, buffers, group)
        if group["momentum"] != 0:
            for p, b in zip(params, buffers):
                self.state[p]["momentum_buffer"] = b


class LARS(SGD):
    """SGD whose update of each tensor of dim > 1 is scaled by trust_coefficient·‖p‖/‖g + ∂R/∂p‖."""

    def __init__(self, params, lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, trust_coefficient=0.001,
                 decay="none", lam=0.0, mineps=0.0, family="ws", decoupled=False):
        super().__init__(params, lr, momentum, dampening, nesterov, decay, lam, mineps, family, decoupled,
                         trust_coefficient=trust_coefficient)


class SGDP(SGD):
    """SGD that removes the radial part of scale-invariant weights' updates (Heo et al. 2021), decay
    decoupled and scaled by wd_ratio there; projection 'cosine' (clovaai's test), 'always', 'never'."""

    _forced = {"decoupled": True}

    def __init__(self, params, lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, decay="l2", lam=0.0,
                 mineps=0.0, family="ws", eps=1e-8, delta=0.1, wd_ratio=0.1, projection="cosine"):
        super().__init__(params, lr, momentum, dampening, nesterov, decay, lam, mineps, family, True,
                         projection=projection, delta=delta, wd_ratio=wd_ratio, eps=eps)


class Adam(_RegularizedOptimizer):
    """Adam; with decay='l2' coupled this is torch.optim.Adam(weight_decay=lam)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, decay="none", lam=0.0, mineps=0.0,
                 family="ws", decoupled=False, **extra):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, decay=decay, lam=lam, mineps=mineps, family=family,
                        decoupled=decoupled, trust_ratio=False, projection="off", delta=0.1, wd_ratio=0.1)
        defaults.update(extra)
        super().__init__(params, defaults)

    @staticmethod
    def _check(group):
        _C.check_adam_group(group)

    def _step_group(self, group, params, grads):
        states = [self.state[p] for p in params]
        steps, exp_avgs, exp_avg_sqs = _C.adam_step(
            params, grads, [int(s.get("step", 0)) for s in states], [s.get("exp_avg") for s in states],
            [s.get("exp_avg_sq") for s in states], group)
        for s, t, m, v in zip(states, steps, exp_avgs, exp_avg_sqs):
            s["step"], s["exp_avg"], s["exp_avg_sq"] = t, m, v


class AdamW(Adam):
    """Adam with decoupled decay; decay='l2' is torch.optim.AdamW(weight_decay=lam)."""

    _forced = {"decoupled": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, decay="l2", lam=1e-2, mineps=0.0,
                 family="ws"):
        super().__init__(params, lr, betas, eps, decay, lam, mineps, family, True)


class LAMB(Adam):
    """Adam's direction plus the decoupled decay, scaled per tensor of dim > 1 by ‖p‖/‖update‖."""

    _forced = {"decoupled": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, decay="l2", lam=0.0, mineps=0.0,
                 family="ws"):
        super().__init__(params, lr, betas, eps, decay, lam, mineps, family, True, trust_ratio=True)


class AdamP(Adam):
    """Adam that removes the radial part of scale-invariant weights' updates (Heo et al. 2021)."""

    _forced = {"decoupled": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, decay="l2", lam=0.0, mineps=0.0,
                 family="ws", delta=0.1, wd_ratio=0.1, projection="cosine"):
        super().__init__(params, lr, betas, eps, decay, lam, mineps, family, True, projection=projection,
                         delta=delta, wd_ratio=wd_ratio)
