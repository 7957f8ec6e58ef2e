"""Parameter groups by role for eshift's optimizers, from any model.

Roles come from the module that owns each parameter:
    eshift.nn WS/WN/CWN convs: weight 'normalized_weight' (its family), WN/CWN gain 'norm_scale'
    nn.Conv1d/2d/3d and transposed convs: weight 'conv_weight', or 'depthwise_weight' when
        groups == in_channels > 1 (one input channel per filter)
    nn.Linear: weight 'classifier_weight'
    BatchNorm, InstanceNorm, GroupNorm, LayerNorm: weight 'norm_scale', bias 'norm_shift'
    any bias of the above: 'bias'
A parameter of another module (a learned scale, an embedding) needs its role in `roles=`
({name: role}); it is an error otherwise, so that no parameter is decayed by accident.
The decay each role gets is decided by eshift's C++ decay policy (src/regularize/decay_policy.h),
with the flags of the paper's reference trainer: wd, wd_all, nowd_bn, nowd_fc, nowd_conv, el2,
mineps, lam, decoupled. A plain conv's weight gets the WS formula of the ε-shift, as the reference.
"""
import torch

from . import _C
from . import nn as enn

_NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
_CONVS = (torch.nn.modules.conv._ConvNd,)


def _is_depthwise(conv):
    """One input channel per filter (nn/param_roles.h's is_depthwise: groups == in_channels > 1)."""
    return conv.groups > 1 and conv.groups == conv.in_channels


def _role(module, local_name, param):
    """(role, family) of one parameter by its module's type, or None."""
    if local_name == "bias" and isinstance(module, _CONVS + (torch.nn.Linear,)):
        return "bias", "none"
    if isinstance(module, (enn.WSConv2d, enn.WNConv2d)):
        if local_name == "gain":
            return "norm_scale", "none"
        if local_name == "weight":
            return ("depthwise_weight" if _is_depthwise(module) else "normalized_weight"), module.family
    if isinstance(module, _CONVS) and local_name == "weight":
        return ("depthwise_weight" if _is_depthwise(module) else "conv_weight"), "none"
    if isinstance(module, torch.nn.Linear) and local_name == "weight":
        return "classifier_weight", "none"
    if isinstance(module, _NORMS):
        return {"weight": ("norm_scale", "none"), "bias": ("norm_shift", "none")}.get(local_name)
    return None


def parameter_roles(model, roles=None):
    """[(name, parameter, role, family)] for every trainable parameter of `model`, in its order."""
    roles = dict(roles or {})
    known = set(_C.role_names())
    for name, role in roles.items():
        if role not in known:
            raise ValueError(f"roles: {name!r} has unknown role {role!r} (one of {sorted(known)})")
    rows, seen = [], set()
    for module_name, module in model.named_modules():
        for local_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            name = f"{module_name}.{local_name}" if module_name else local_name
            if name in roles:
                role, family = roles.pop(name), getattr(module, "family", "none")
            else:
                found = _role(module, local_name, p)
                if found is None:
                    raise ValueError(f"param_groups: no role for parameter {name!r} of {type(module).__name__}: "
                                     f"give it in roles={{{name!r}: ...}} (one of {sorted(known)})")
                role, family = found
            rows.append((name, p, role, family if role in ("normalized_weight", "depthwise_weight") else "none"))
    if roles:
        raise ValueError(f"roles: no trainable parameter named {sorted(roles)[0]!r}")
    return rows


def param_groups(model, wd=1e-4, el2=False, lam=1e-4, mineps=1e-3, nowd_bn=False, nowd_fc=False, nowd_conv=False,
                 wd_all=False, decoupled=False, roles=None, verbose=False, audit=None):
    """Parameter groups for eshift.optim: one group per distinct regularizer, in first-appearance order,
    each a dict with 'params' and the keys decay, lam, mineps, family, decoupled. verbose prints the
    decay policy's table (role → regularizer, tensors, elements). audit: an example input batch; the
    scale invariance of every parameter is then measured (eshift.audit) and the conv weights that
    are not invariant are named in a warning."""
    rows = parameter_roles(model, roles)
    if audit is not None:
        from .audit import audit as measure, warn_mismatches
        warn_mismatches(measure(model, audit, roles=roles))
    flags = dict(wd=wd, wd_all=wd_all, nowd_bn=nowd_bn, nowd_fc=nowd_fc, nowd_conv=nowd_conv, el2=el2, mineps=mineps,
                 lam=lam, decoupled=decoupled)
    regularizers = _C.regularizers_for(rows, flags)
    if verbose:
        print(_C.decay_table(rows, flags), end="")
    groups = {}
    for (name, p, role, family), reg in zip(rows, regularizers):
        key = tuple(sorted(reg.items()))
        groups.setdefault(key, dict(reg, params=[]))["params"].append(p)
    return list(groups.values())
