"""What several methods need to know about a decoder model: its layers, its named modules.

Works on peft-wrapped models and on meta-device models (names and shapes only).
"""

from __future__ import annotations

import importlib

from ..config import KnowtuneError

METHODS_EXTRA = "pip install 'knowtune[methods]'"


def require(module: str, method: str):
    """Import an optional dependency of a method, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise KnowtuneError(f"method {method!r} needs the {module} package ({err}); run: {METHODS_EXTRA}",
                            field="method") from None


def base_model(model):
    """The transformers model inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model) -> tuple[str, list]:
    """(qualified name, ModuleList) of the decoder's transformer blocks, in order."""
    import torch

    base = base_model(model)
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise KnowtuneError(f"cannot find the decoder layers of {type(base).__name__} "
                            "(expected model.get_decoder().layers)", field="method")
    name = next(n for n, m in model.named_modules() if m is layers)
    return name, list(layers)


def targeted_linears(model, targets: list[str]) -> list[tuple[str, object]]:
    """The decoder layers' Linear modules whose own name is one of `targets` (every one for
    ["all-linear"]), as peft's target_modules picks them."""
    import torch

    prefix = decoder_layers(model)[0] + "."
    every = targets == ["all-linear"]
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith(prefix)
            and (every or n.rsplit(".", 1)[-1] in targets)]


def modules_named(model, names: list[str], *, field: str) -> list[tuple[str, object]]:
    """Modules whose qualified name is, or ends with, `.NAME` for one of `names` (e.g. lm_head, norm)."""
    found = []
    for wanted in names:
        hits = [(n, m) for n, m in model.named_modules() if n == wanted or n.endswith("." + wanted)]
        if not hits:
            top = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                          if n and not n.rsplit(".", 1)[-1].isdigit() and ".layers." not in n})
            raise KnowtuneError(f"no module named {wanted!r} in this model; outside the layers there are: "
                                f"{', '.join(top)}", field=field)
        found += hits
    return found


def is_meta(model) -> bool:
    return any(p.device.type == "meta" for p in model.parameters())


def freeze_all(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def wrap_peft(model, config):
    """get_peft_model, with peft's "target modules not found" as a one-line error naming the field."""
    from peft import get_peft_model
    from peft.utils.error import NoMatchingPeftModuleError

    try:
        return get_peft_model(model, config)
    except NoMatchingPeftModuleError as err:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                         if type(m).__name__.startswith("Linear") and ".layers." in n})
        raise KnowtuneError(f"{str(err).splitlines()[0]} Linear layers here: {', '.join(linear)}",
                            field="params.target_modules") from None
