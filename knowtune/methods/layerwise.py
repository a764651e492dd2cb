"""Layer-wise optimizer steps behind the shared loop's one `optimizer.step()`.

Layer-wise GaLore updates each weight inside the backward pass, from a hook that runs as
soon as that weight's gradient is complete, then frees the gradient: the full set of
gradients never exists at once. The loop still calls `step()`, `zero_grad()` and its
learning-rate scheduler, so it gets a facade: `step()` does nothing (the hooks did it), and
the facade's param_groups are the per-weight optimizers' own group dicts, so the loop's
ordinary scheduler sets every per-weight learning rate directly. (transformers ships a
LayerWiseDummyOptimizer for this, but its matching dummy scheduler fails under torch 2.13's
strict zip, and it needs one scheduler per weight.)

Two things the shared loop does cannot apply: gradient clipping (no gradient is left when
it runs, so nothing is clipped) and gradient accumulation (each micro-batch's backward
would already update the weights); the latter is refused at the first step.
"""

from __future__ import annotations

from collections import Counter

import torch

from ..config import KnowtuneError


class LayerwiseSteps(torch.optim.Optimizer):
    def __init__(self, per_param: dict):
        self.per_param = per_param
        self.backward_passes: Counter = Counter()
        # the same dict objects as the per-weight optimizers': a scheduler writing "lr" here
        # writes it there
        super().__init__(self._shared_groups(), defaults={})

    def _shared_groups(self) -> list[dict]:
        return [group for opt in self.per_param.values() for group in opt.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        # the hooks already stepped; a weight updated more than once since the last step means
        # the loop accumulated gradients over micro-batches, which layer-wise updates cannot honour
        if self.backward_passes and max(self.backward_passes.values()) > 1:
            raise KnowtuneError("layer-wise GaLore updates every weight during backward and cannot "
                                "accumulate gradients: set grad_accum: 1", field="grad_accum")
        self.backward_passes.clear()

    def state_dict(self) -> dict:
        return {"per_param": [opt.state_dict() for opt in self.per_param.values()]}

    def load_state_dict(self, state_dict: dict) -> None:
        for opt, state in zip(self.per_param.values(), state_dict["per_param"], strict=True):
            opt.load_state_dict(state)
        self.param_groups = self._shared_groups()  # load_state_dict made new group dicts


def layerwise_optimizer(groups: list[dict], make_one) -> LayerwiseSteps:
    """One optimizer per parameter (`make_one(param_groups)`), stepped from gradient hooks."""
    per_param = {}
    for group in groups:
        settings = {k: v for k, v in group.items() if k != "params"}
        for param in group["params"]:
            per_param[param] = make_one([{"params": [param], **settings}])
    facade = LayerwiseSteps(per_param)

    def step_now(param):
        facade.backward_passes[param] += 1
        per_param[param].step()
        per_param[param].zero_grad(set_to_none=True)

    for param in per_param:
        param.register_post_accumulate_grad_hook(step_now)
    return facade
