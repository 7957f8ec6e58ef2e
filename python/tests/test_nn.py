"""eshift.nn: the layers' forward against the formulas written here (float64), their gradients by
finite differences, and convert() on torchvision's ResNet-18."""
import copy

import pytest
import torch
import torch.nn.functional as F

import eshift

torchvision = pytest.importorskip("torchvision")


def standardized(w, delta=1e-5, inside=False):
    """Per output filter: (w − μ)/(σ + δ), σ unbiased; inside: (w − μ)/sqrt(biased var + δ)."""
    x = w.reshape(w.shape[0], -1)
    mu = x.mean(dim=1, keepdim=True)
    if inside:
        out = (x - mu) / torch.sqrt(((x - mu) ** 2).mean(dim=1, keepdim=True) + delta)
    else:
        out = (x - mu) / (torch.sqrt(((x - mu) ** 2).sum(dim=1, keepdim=True) / (x.shape[1] - 1)) + delta)
    return out.reshape(w.shape)


@pytest.mark.parametrize("inside", [False, True])
def test_ws_conv_is_the_conv_of_the_standardized_weight(inside):
    torch.manual_seed(0)
    layer = eshift.nn.WSConv2d(4, 6, 3, padding=1, delta=1e-4, delta_inside_sqrt=inside).double()
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    expected = F.conv2d(x, standardized(layer.weight, 1e-4, inside), layer.bias, padding=1)
    assert torch.allclose(layer(x), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1), atol=1e-3)


def test_wn_and_cwn_start_as_the_plain_and_the_centered_conv():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    wn = eshift.nn.WNConv2d(4, 6, 3, padding=1).double()
    wn.reset_gain()
    assert torch.allclose(wn(x), F.conv2d(x, wn.weight, wn.bias, padding=1), rtol=0, atol=1e-12)
    cwn = eshift.nn.CWNConv2d(4, 6, 3, padding=1).double()
    cwn.reset_gain()
    centered = cwn.weight - cwn.weight.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(cwn(x), F.conv2d(x, centered, cwn.bias, padding=1), rtol=0, atol=1e-12)
    # doubling the gain doubles the weight's contribution: g · v/‖v‖
    with torch.no_grad():
        wn.gain.mul_(2)
    assert torch.allclose(wn(x) - wn.bias.view(1, -1, 1, 1), 2 * F.conv2d(x, wn.weight, None, padding=1), atol=1e-12)


@pytest.mark.parametrize("cls", [eshift.nn.WSConv2d, eshift.nn.WNConv2d, eshift.nn.CWNConv2d])
def test_gradients_equal_finite_differences(cls):
    torch.manual_seed(0)
    layer = cls(2, 3, 3).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    params = tuple(layer.parameters())

    def f(x, *ps):
        return torch.func.functional_call(layer, {n: p for (n, _), p in zip(layer.named_parameters(), ps)}, (x,))

    assert torch.autograd.gradcheck(f, (x,) + params, eps=1e-6, atol=1e-7)


def test_convert_replaces_every_conv_and_keeps_the_network_up_to_standardization():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).double().eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    # the check: the original network with each conv weight standardized by hand = the converted one
    by_hand = copy.deepcopy(model)
    with torch.no_grad():
        for m in by_hand.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(standardized(m.weight))
    converted = eshift.nn.convert(copy.deepcopy(model), "ws")
    convs = [m for m in converted.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20 and all(type(m) is eshift.nn.WSConv2d for m in convs)
    assert not any(m.training for m in converted.modules())  # the modes kept (eval)
    with torch.no_grad():
        # relative: eval-mode BN with fresh running statistics lets the activations grow to ~1e21, and
        # eshift standardizes with its own kernel (sums in another order than torch's ops)
        expected = by_hand(x)
        assert (converted(x) - expected).abs().max().item() <= 1e-12 * expected.abs().max().item()
        # WN starts as the plain network (g = ‖v‖)
        wn = eshift.nn.convert(copy.deepcopy(model), "wn")
        assert (wn(x) - model(x)).abs().max().item() <= 1e-10


def test_convert_refuses_an_unknown_family():
    with pytest.raises(ValueError, match="family must be one of"):
        eshift.nn.convert(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)), "bn")
