"""One registry of fine-tuning methods. Adding a method: one module, one line in METHOD_MODULES.

A method module defines:
  NAME, SUMMARY, MERGEABLE, SAVE_FORMAT ("peft" or "weights");
  Params: a dataclass whose per-field docstrings become --help and the web form;
  apply(model, params) -> model with exactly the intended parameters trainable;
and optionally:
  load_kwargs(params) -> extra kwargs for from_pretrained (e.g. a 4-bit quantization config);
  make_optimizer(model, params, lr, weight_decay) -> torch optimizer (GaLore, BAdam, LoRA+);
  USES_MODEL_FORWARD = True when the wrapper's forward must run (virtual tokens);
  FROZEN_BASE = True when the base weights never change (they may then be held in bf16);
  prepare_base(model, params) -> model: run on a freshly loaded base before trained tensors
    are attached to it (qlora: keep bitsandbytes' CPU inference path exact);
  DEFAULT_LR: the learning rate that suits the method (`knowtune compare` trains with it);
  COMPILE_AUTO = True when `compile: auto` should compile its training;
  estimate_state(model, params, trainable_bytes) -> StateBytes: its gradients and optimizer
    state for the memory estimate, where they are not AdamW's over every trainable tensor;
  trainable_count(model, params) -> int: what apply() trains, from the base model's
    architecture alone (the contract tests hold apply() to it);
  TEST_SETTINGS: TinySettings for the contract tests.
contract.py checks each module when it is loaded: a name it does not know fails there.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from ..config import KnowtuneError
from ..config.coerce import from_dict
from .contract import TinySettings, check_module

METHOD_MODULES = {
    "lora": "knowtune.methods.lora",
    "dora": "knowtune.methods.dora",
    "qlora": "knowtune.methods.qlora",
    "ia3": "knowtune.methods.ia3",
    "prefix": "knowtune.methods.prefix",
    "prompt": "knowtune.methods.prompt",
    "ptuning": "knowtune.methods.ptuning",
    "adapter": "knowtune.methods.adapter",
    "freeze": "knowtune.methods.freeze",
    "full": "knowtune.methods.full",
    "galore": "knowtune.methods.galore",
    "badam": "knowtune.methods.badam",
}


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    params_cls: type
    apply: Callable[[Any, Any], Any]
    mergeable: bool
    save_format: str
    load_kwargs: Callable[[Any], dict] | None
    make_optimizer: Callable | None
    uses_model_forward: bool
    frozen_base: bool
    module: ModuleType
    prepare_base: Callable[[Any, Any], Any] | None = None
    default_lr: float | None = None
    compile_auto: bool = False
    """Whether `compile: auto` compiles this method's training (measured to pay, and to compile)."""
    estimate_state: Callable | None = None
    trainable_count: Callable[[Any, Any], int] | None = None
    test_settings: TinySettings | None = None

    def parse_params(self, data: dict | None, *, file: str | None = None,
                     lines: dict[str, int] | None = None):
        """Method params from a dict; unknown names are refused with the allowed list."""
        return from_dict(self.params_cls, dict(data or {}), file=file, lines=lines, prefix="params.")


def method_names() -> list[str]:
    return list(METHOD_MODULES)


def get_method(name: str) -> Method:
    if name not in METHOD_MODULES:
        raise KnowtuneError(f"unknown method {name!r}; choose one of: {', '.join(METHOD_MODULES)}",
                            field="method")
    module = _load(METHOD_MODULES[name])
    return Method(
        name=module.NAME, summary=module.SUMMARY, params_cls=module.Params, apply=module.apply,
        mergeable=module.MERGEABLE, save_format=module.SAVE_FORMAT,
        load_kwargs=getattr(module, "load_kwargs", None),
        make_optimizer=getattr(module, "make_optimizer", None),
        uses_model_forward=getattr(module, "USES_MODEL_FORWARD", False),
        frozen_base=getattr(module, "FROZEN_BASE", False), module=module,
        prepare_base=getattr(module, "prepare_base", None),
        default_lr=getattr(module, "DEFAULT_LR", None),
        compile_auto=getattr(module, "COMPILE_AUTO", False),
        estimate_state=getattr(module, "estimate_state", None),
        trainable_count=getattr(module, "trainable_count", None),
        test_settings=getattr(module, "TEST_SETTINGS", None))


@functools.lru_cache(maxsize=None)
def _load(module_name: str) -> ModuleType:
    """The method module, imported and checked against the contract once per process."""
    module = importlib.import_module(module_name)
    check_module(module)
    return module
