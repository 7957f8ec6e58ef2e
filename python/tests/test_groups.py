"""eshift.param_groups: roles from module types and the decay policy's rules (the reference's flags)
on torchvision's ResNet-50 and MobileNetV2 and on a block with depthwise convs and a layer scale."""
import pytest
import torch

import eshift

torchvision = pytest.importorskip("torchvision")


def group_of(groups):
    """parameter id → its group; fails when a parameter is in two groups."""
    out = {}
    for g in groups:
        for p in g["params"]:
            assert id(p) not in out, "a parameter in two groups"
            out[id(p)] = g
    return out


@pytest.mark.parametrize("name, convs, depthwise, norms, linears",
                         [("resnet50", 53, 0, 53, 1), ("mobilenet_v2", 35, 17, 52, 1)])
def test_every_parameter_in_one_group_with_the_references_rules(name, convs, depthwise, norms, linears):
    model = getattr(torchvision.models, name)(weights=None)
    roles = eshift.parameter_roles(model)
    counts = {}
    for _, _, role, _ in roles:
        counts[role] = counts.get(role, 0) + 1
    assert counts.get("conv_weight", 0) == convs and counts.get("depthwise_weight", 0) == depthwise
    assert counts["norm_scale"] == norms and counts["norm_shift"] == norms
    assert counts["classifier_weight"] == linears and counts["bias"] == linears

    groups = eshift.param_groups(model, wd=1e-4, el2=True, lam=5e-4, mineps=1e-3, nowd_fc=True)
    by_id = group_of(groups)
    assert len(by_id) == len(list(model.parameters()))
    for _, p, role, _ in roles:
        g = by_id[id(p)]
        if role == "conv_weight":
            assert (g["decay"], g["lam"], g["mineps"], g["family"]) == ("el2", 5e-4, 1e-3, "ws")
        elif role in ("depthwise_weight", "norm_scale"):  # ordinary L2 (never the ε-term for depthwise)
            assert (g["decay"], g["lam"]) == ("l2", 1e-4)
        else:  # classifier (nowd_fc), biases and norm shifts
            assert g["decay"] == "none"
    # nowd_conv and nowd_bn take ordinary decay off the depthwise weights and the norm scales
    quiet = group_of(eshift.param_groups(model, wd=1e-4, nowd_conv=True, nowd_bn=True))
    for _, p, role, _ in roles:
        assert quiet[id(p)]["decay"] == ("l2" if role == "classifier_weight" else "none"), role


def test_normalized_layers_get_their_familys_formula_and_groups_drive_an_optimizer():
    model = eshift.nn.convert(torchvision.models.resnet18(weights=None), "cwn")
    groups = eshift.param_groups(model, wd=1e-4, el2=True, lam=1e-4, mineps=1e-3)
    families = {g["family"] for g in groups if g["decay"] == "el2"}
    assert families == {"cwn"}
    gains = [p for n, p, role, _ in eshift.parameter_roles(model) if role == "norm_scale" and n.endswith("gain")]
    assert len(gains) == 20
    opt = eshift.optim.SGD(groups, lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    assert len(opt.state) == len(list(model.parameters()))


class LayerScaleBlock(torch.nn.Module):
    """A ConvNeXt-like block: depthwise 7×7, LayerNorm, two linears, a learned layer scale."""

    def __init__(self, dim=16):
        super().__init__()
        self.dwconv = torch.nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = torch.nn.LayerNorm(dim)
        self.fc1, self.fc2 = torch.nn.Linear(dim, 4 * dim), torch.nn.Linear(4 * dim, dim)
        self.gamma = torch.nn.Parameter(1e-6 * torch.ones(dim))


def test_a_parameter_without_a_role_is_an_error_until_given_one():
    block = LayerScaleBlock()
    with pytest.raises(ValueError, match="no role for parameter 'gamma'"):
        eshift.param_groups(block)
    with pytest.raises(ValueError, match="unknown role 'scale'"):
        eshift.param_groups(block, roles={"gamma": "scale"})
    groups = group_of(eshift.param_groups(block, wd=0.05, el2=True, roles={"gamma": "norm_scale"}, nowd_bn=True))
    assert groups[id(block.gamma)]["decay"] == "none" and groups[id(block.dwconv.weight)]["decay"] == "l2"
    assert groups[id(block.fc1.weight)]["decay"] == "l2" and groups[id(block.fc1.bias)]["decay"] == "none"


def test_verbose_prints_the_policys_table(capsys):
    eshift.param_groups(LayerScaleBlock(), roles={"gamma": "norm_scale"}, verbose=True)
    table = capsys.readouterr().out
    assert "depthwise weight" in table and "classifier weight" in table and "regularizer" in table


def test_the_audit_measures_invariance_and_names_a_conv_without_a_norm():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    rows = {r["name"]: r for r in eshift.audit(torchvision.models.resnet18(weights=None), x)}
    # every conv of ResNet-18 is followed by BatchNorm (batch statistics): invariant; the classifier is not
    assert all(r["measured_invariant"] for r in rows.values() if r["role"] == "conv_weight")
    assert sum(r["role"] == "conv_weight" for r in rows.values()) == 20
    assert not rows["fc.weight"]["measured_invariant"] and rows["fc.weight"]["relative_change"] > 0.1
    assert not rows["bn1.weight"]["measured_invariant"]  # γ scales what follows
    # a conv followed by ReLU alone is not invariant: param_groups(audit=...) names it
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.warns(UserWarning, match=r"1 conv weight\(s\) are not scale-invariant .*: 3\.weight$"):
        eshift.param_groups(plain, el2=True, audit=x)
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        eshift.audit(plain, x, tolerance=0)
