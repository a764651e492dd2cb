"""LoRA through peft: W + (alpha/r)·B·A on the targeted linear layers; only A and B train.

Trainable parameters per targeted module: r × (in_features + out_features).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .contract import TinySettings

NAME = "lora"
SUMMARY = "Low-rank adapters (peft LoRA) on the chosen linear layers"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True
COMPILE_AUTO = True  # compiled blocks measured faster from a 50-step run on (bench/train_speed.py)
SAVE_FORMAT = "peft"
FROZEN_BASE = True  # base weights never change: they may be stored in bf16
TEST_SETTINGS = TinySettings(params={"r": 4, "alpha": 8}, lr=1e-2, bad_value={"r": 0})


@dataclass
class Params:
    r: int = 16
    """Rank of the update matrices A (r×in) and B (out×r)."""
    alpha: float = 32.0
    """Scaling numerator: the update is multiplied by alpha/r (alpha/sqrt(r) with use_rslora)."""
    dropout: float = 0.0
    """Dropout on the adapter's input during training."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Module names to adapt (e.g. q_proj,v_proj), or all-linear for every linear layer but the output head."""
    use_rslora: bool = False
    """Rank-stabilised scaling alpha/sqrt(r)."""
    init: Literal["gaussian", "default", "pissa"] = "default"
    """Initialisation of A (B starts at zero so training starts from the base model); pissa starts from the principal singular vectors."""
    loraplus_lr_ratio: float = 16.0
    """LoRA+: learning rate of B = ratio × learning rate of A (16, the paper's choice, learns the Hainan facts to 91% in 1.5 epochs where plain LoRA reaches 79-82%; 0 disables)."""

    def validate(self) -> None:
        if self.r <= 0:
            raise ValueError(f"r: must be > 0, got {self.r}")
        if self.alpha <= 0:
            raise ValueError(f"alpha: must be > 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.loraplus_lr_ratio < 0:
            raise ValueError(f"loraplus_lr_ratio: must be >= 0, got {self.loraplus_lr_ratio}")
        if not self.target_modules:
            raise ValueError("target_modules: must name at least one module")


def peft_config(params: Params, **extra):
    from peft import LoraConfig, TaskType

    targets = params.target_modules
    target = "all-linear" if targets == ["all-linear"] else targets
    init = {"default": True, "gaussian": "gaussian", "pissa": "pissa"}[params.init]
    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=params.r, lora_alpha=params.alpha,
                      lora_dropout=params.dropout, target_modules=target,
                      use_rslora=params.use_rslora, init_lora_weights=init, **extra)


def apply(model, params: Params):
    from .layers import wrap_peft

    return wrap_peft(model, peft_config(params))


def trainable_count(model, params: Params) -> int:
    """r × (in_features + out_features) per targeted linear layer."""
    from .layers import targeted_linears

    return sum(params.r * (m.in_features + m.out_features) for _, m in targeted_linears(model, params.target_modules))


def make_optimizer(model, params: Params, lr: float, weight_decay: float):
    """Plain AdamW, or LoRA+ (B matrices at a higher learning rate) when asked."""
    from .optim import adamw

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if params.loraplus_lr_ratio <= 0:
        return adamw([p for _, p in trainable], lr=lr, weight_decay=weight_decay)
    b_params = [p for n, p in trainable if "lora_B" in n]
    other = [p for n, p in trainable if "lora_B" not in n]
    return adamw([{"params": other, "lr": lr}, {"params": b_params, "lr": lr * params.loraplus_lr_ratio}],
                 lr=lr, weight_decay=weight_decay)
