"""GaLore (galore-torch): full-parameter training with low-rank gradient projection.

Every weight trains, but the gradient of each targeted matrix is projected onto its top
`rank` singular directions (refreshed every `update_proj_gap` steps) before the optimizer
sees it, so the optimizer's moments are rank × width instead of height × width: full
fine-tuning at a fraction of AdamW's memory. Other weights (embeddings, norms, output head)
take ordinary optimizer steps. Saved as all trained tensors; the result is a plain model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import KnowtuneError
from . import full
from .contract import StateBytes, TinySettings
from .layers import require

NAME = "galore"
SUMMARY = "GaLore: full-parameter training, low-rank projected gradients (galore-torch)"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True  # the trained model is already a plain model
SAVE_FORMAT = "weights"
TEST_SETTINGS = TinySettings(params={"rank": 4}, lr=1e-2, bad_value={"rank": 0})
apply = full.apply  # every weight trains; the optimizer is what differs
trainable_count = full.trainable_count


@dataclass
class Params:
    optimizer: Literal["adamw", "adamw8bit", "adafactor", "adamw_layerwise"] = "adamw"
    """GaLore optimizer: adamw, adamw8bit (CUDA only), adafactor, or adamw_layerwise (updates each
    weight during backward, so gradients never all exist at once; needs grad_accum: 1 and does no
    gradient clipping)."""
    rank: int = 32
    """Rank of the gradient projection (clipped to each matrix's smaller side)."""
    update_proj_gap: int = 50
    """Optimizer steps between recomputing the projection (SVD of the current gradient); short CPU
    runs need a refresh more often than the paper's 200."""
    scale: float = 0.25
    """Multiplier of the projected update (galore-torch's default; acts as a learning-rate factor for
    the targeted matrices)."""
    target_modules: list[str] = field(default_factory=lambda: ["self_attn", "mlp"])
    """Linear layers whose gradients are projected: those with one of these names in their module path."""

    def validate(self) -> None:
        for name in ("rank", "update_proj_gap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.scale <= 0:
            raise ValueError(f"scale: must be > 0, got {self.scale}")
        if not self.target_modules:
            raise ValueError("target_modules: must name at least one module")


def estimate_state(model, params: Params, trainable_bytes: int) -> StateBytes:
    """Per projected matrix (m × n, rank r) the moments of the r × max(m, n) projected gradient
    plus the r × min(m, n) projector (galore-torch's "std" projection, fp32); Adafactor keeps one
    factored second moment (r + max(m, n)) instead of two full moments. The other trainable
    tensors take plain AdamW (or Adafactor) state. Layer-wise, one gradient exists at a time."""
    import torch

    targets, adafactor = set(params.target_modules), params.optimizer == "adafactor"
    projected, total = set(), 0
    for path, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.weight.requires_grad and set(path.split(".")) & targets:
            m, n = module.weight.shape
            r = min(params.rank, m, n)
            moments = (r + max(m, n)) if adafactor else 2 * r * max(m, n)
            total += (moments + r * min(m, n)) * 4
            projected.add(id(module.weight))
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in projected]
    if adafactor:
        total += sum((p.shape[0] + p.shape[1] if p.dim() == 2 else p.numel()) for p in rest) * 4
    else:
        total += 2 * sum(p.numel() for p in rest) * trainable_bytes
    state = StateBytes(optimizer=total, notes=["GaLore: AdamW moments of the rank-r projected gradients"])
    if params.optimizer == "adamw_layerwise":
        largest = max((p.numel() for p in model.parameters() if p.requires_grad), default=0)
        state.gradients = largest * trainable_bytes
        state.notes.append("layer-wise GaLore: each gradient is used and freed as soon as it is complete")
    return state


def split_parameters(model, targets: list[str]) -> tuple[list, list]:
    """(projected, plain): weights of the targeted linear layers, and every other trainable tensor."""
    import torch

    chosen = {id(m.weight) for n, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and set(n.split(".")) & set(targets)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    projected = [p for p in trainable if id(p) in chosen]
    if not projected:
        raise KnowtuneError(f"no linear layer matches {', '.join(targets)}", field="params.target_modules")
    return projected, [p for p in trainable if id(p) not in chosen]


def make_optimizer(model, params: Params, lr: float, weight_decay: float):
    import torch

    if params.optimizer == "adamw8bit" and not torch.cuda.is_available():
        raise KnowtuneError("GaLore's 8-bit AdamW needs a CUDA GPU (bitsandbytes' 8-bit optimizer states); "
                            "on a CPU use optimizer: adamw or adafactor", field="params.optimizer")
    galore = require("galore_torch", NAME)
    projected, plain = split_parameters(model, params.target_modules)
    groups = [{"params": projected, "rank": params.rank, "update_proj_gap": params.update_proj_gap,
               "scale": params.scale, "proj_type": "std"}]
    if plain:
        groups.append({"params": plain})
    if params.optimizer == "adamw8bit":
        return galore.GaLoreAdamW8bit(groups, lr=lr, weight_decay=weight_decay)
    from .galore_state import resumable

    if params.optimizer == "adafactor":
        return resumable(galore.GaLoreAdafactor)(groups, lr=lr, weight_decay=weight_decay, relative_step=False,
                                                 scale_parameter=False, warmup_init=False)

    def adamw(param_groups):
        return resumable(galore.GaLoreAdamW)(param_groups, lr=lr, weight_decay=weight_decay,
                                             no_deprecation_warning=True)

    if params.optimizer == "adamw_layerwise":
        from .layerwise import layerwise_optimizer

        return layerwise_optimizer(groups, adamw)
    return adamw(groups)
