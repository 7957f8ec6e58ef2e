"""What decay does to scale-invariant weights, measured on your run: eshift's probes
(src/observe/probes.h) around every `every`-th optimizer step.

For each normalized or plain conv weight, per output filter: ‖w‖, σ (unbiased) and μ (min / median /
max over filters), the effective learning rate (WS/CWN: η/‖w − μ‖², WN/plain: η/‖w‖²; median), the
angular update of the step (median, radians), the loss gradient's norm and max |g|, the float16
margin max|g|·scale/65504 at the GradScaler's scale (≥ 1: a float16 gradient would overflow) and the
share of filters with σ < eps. The σ-collapse watch (src/observe/collapse_watch.h) warns when that
share reaches `share` (then at each doubling): under plain L2, σ falls without limit; decay='el2'
with mineps=ε holds it at ε.

    probes = eshift.probes.attach(model, optimizer, every=50, writer=SummaryWriter(), scaler=scaler)
    ...
    probes.records[-1]["sigma_min"]; probes.remove()
"""
import json
import warnings

from . import _C
from .groups import parameter_roles

# the summary numbers written to TensorBoard, under probe/<name>
SUMMARY = ("sigma_min", "effective_lr_median", "angular_update_median", "grad_max_abs", "fp16_ratio",
           "fp16_scaled_ratio", "frac_sigma_below_eps")


class Probes:
    """The hooks on an optimizer's step; `records` holds each probe's dict (metrics.jsonl's form)."""

    def __init__(self, model, optimizer, every, writer, eps, share, scaler, roles):
        if every < 1:
            raise ValueError(f"probes: every must be >= 1, got {every}")
        el2 = any(g.get("decay") == "el2" for g in optimizer.param_groups)
        self.probe = _C.StepProbe(parameter_roles(model, roles), eps, share, el2)
        self.optimizer, self.every, self.writer, self.scaler = optimizer, every, writer, scaler
        self.records, self.warnings, self.step, self._armed = [], [], 0, False
        self._handles = [optimizer.register_step_pre_hook(self._before), optimizer.register_step_post_hook(self._after)]

    def _before(self, optimizer, args, kwargs):
        self.step += 1
        self._armed = self.step % self.every == 0
        if self._armed:
            self.probe.before_step()

    def _after(self, optimizer, args, kwargs):
        if not self._armed:
            return
        self._armed = False
        scale = float(self.scaler.get_scale()) if self.scaler is not None and self.scaler.is_enabled() else 0.0
        text, warning = self.probe.after_step(self.step, 0, float(optimizer.param_groups[0]["lr"]), scale)
        record = json.loads(text)
        self.records.append(record)
        if self.writer is not None:
            for name in SUMMARY:
                self.writer.add_scalar(f"probe/{name}", record[name], self.step)
            for layer in record["layers"]:
                self.writer.add_scalar(f"probe_sigma_median/{layer['name']}", layer["sigma"]["median"], self.step)
        if warning:
            self.warnings.append(warning)
            warnings.warn(warning + " (from Python: decay='el2', mineps=ε in the conv weights' group)", stacklevel=2)

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []


def attach(model, optimizer, every=100, writer=None, eps=1e-3, share=0.05, scaler=None, roles=None):
    """Probes every `every`-th step of `optimizer` on `model`'s conv weights (roles as param_groups);
    eps: the σ threshold (the ε of the ε-shift); share: the share of filters below it that warns (0:
    no warning); writer: a torch.utils.tensorboard SummaryWriter; scaler: the GradScaler whose scale
    the float16 margin uses."""
    return Probes(model, optimizer, every, writer, eps, share, scaler, roles)
