"""The weight normalization family as drop-in convs, the formulas computed by eshift's C++ core
(src/nn/weight_family.h), differentiable through autograd. Each layer is an nn.Conv2d whose
`weight` is the raw weight; the conv uses its normalized form. Per output filter w ∈ R^n:
    WSConv2d   (w − μ)/(σ + δ), σ the UNBIASED std, δ = 1e-5 outside the root (the paper's code);
               delta_inside_sqrt=True: (w − μ)/sqrt(biased variance + δ)
    WNConv2d   g · w/‖w‖,        g = `gain` [out], initialized to ‖w‖ (the layer starts as the plain conv)
    CWNConv2d  g · (w − μ)/‖w − μ‖, g initialized to ‖w − μ‖
convert(model, 'ws' | 'wn' | 'cwn') replaces every nn.Conv2d of a model in place, keeping its weights.
"""
import torch

from . import _C


class WSConv2d(torch.nn.Conv2d):
    family = "ws"

    def __init__(self, *args, delta=1e-5, delta_inside_sqrt=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.delta, self.delta_inside_sqrt = delta, delta_inside_sqrt

    def normalized_weight(self):
        return _C.standardize_weight(self.weight, self.delta, self.delta_inside_sqrt)

    def forward(self, x):
        return self._conv_forward(x, self.normalized_weight(), self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", delta={self.delta}" + (", delta_inside_sqrt=True" if self.delta_inside_sqrt else "")


class WNConv2d(torch.nn.Conv2d):
    family = "wn"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = torch.nn.Parameter(torch.empty(self.out_channels, dtype=self.weight.dtype, device=self.weight.device))
        self.reset_gain()

    @torch.no_grad()
    def reset_gain(self):
        self.gain.copy_(_C.filter_norm(self.weight))

    def normalized_weight(self):
        return _C.weight_normalize(self.weight, self.gain)

    def forward(self, x):
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class CWNConv2d(WNConv2d):
    family = "cwn"

    @torch.no_grad()
    def reset_gain(self):
        self.gain.copy_(_C.filter_centered_norm(self.weight))

    def normalized_weight(self):
        return _C.centered_weight_normalize(self.weight, self.gain)


_LAYERS = {"ws": WSConv2d, "wn": WNConv2d, "cwn": CWNConv2d}


def convert(model, family="ws", **layer_options):
    """Replaces every nn.Conv2d of `model` (in place; returned too) by the family's layer with the same
    configuration, weight and bias (WN/CWN gains initialized from the weight). Layers already of the
    family are kept. layer_options go to the layer (WS: delta, delta_inside_sqrt)."""
    if family not in _LAYERS:
        raise ValueError(f"convert: family must be one of {sorted(_LAYERS)}, got {family!r}")
    cls = _LAYERS[family]
    for name, child in list(model.named_children()):
        if type(child) is torch.nn.Conv2d:
            new = cls(child.in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                      padding=child.padding, dilation=child.dilation, groups=child.groups,
                      bias=child.bias is not None, padding_mode=child.padding_mode, device=child.weight.device,
                      dtype=child.weight.dtype, **layer_options)
            with torch.no_grad():
                new.weight.copy_(child.weight)
                if child.bias is not None:
                    new.bias.copy_(child.bias)
            if isinstance(new, WNConv2d):
                new.reset_gain()
            new.train(child.training)
            setattr(model, name, new)
        else:
            convert(child, family, **layer_options)
    return model
