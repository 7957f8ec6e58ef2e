"""eshift from Python: the ε-shifted L2 regularizer (arXiv:1911.05920), eshift's optimizers, the
weight normalization family and the decay policy by parameter role, on eshift's C++ core.

    model = eshift.nn.convert(torchvision.models.resnet18(), "ws")
    groups = eshift.param_groups(model, wd=1e-4, el2=True, lam=1e-4, mineps=1e-3)
    optimizer = eshift.optim.SGD(groups, lr=0.1, momentum=0.9)
"""
try:
    import torch
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("eshift needs torch: pip install torch, then pip install . in eshift's folder") from e

try:
    from ._build_info import TORCH_VERSION as _BUILT_FOR
except ImportError as e:  # pragma: no cover
    raise ImportError("eshift is not built: pip install . (in eshift's folder)") from e

if torch.__version__.split("+")[0] != _BUILT_FOR:
    raise ImportError(f"eshift was built against torch {_BUILT_FOR}, but this is torch {torch.__version__}: "
                      "rebuild it (pip install --force-reinstall --no-deps . in eshift's folder)")

from . import _C  # noqa: E402
from . import nn, optim, probes  # noqa: E402
from .audit import audit  # noqa: E402
from .groups import param_groups, parameter_roles  # noqa: E402

__all__ = ["nn", "optim", "probes", "audit", "param_groups", "parameter_roles"]
