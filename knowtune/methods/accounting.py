"""Exact trainable-parameter accounting, in peft's own format, with the formula behind each number.

The count follows peft's `get_nb_trainable_parameters` rule for rule (so "all params"
includes the adapter's own parameters, and a 4-bit packed weight counts as its unpacked
size). The breakdown is read off the modules the method actually created: LoRA's A and B
shapes, DoRA's magnitude vectors, IA3's scaling vectors, the virtual-token tables of
prefix/prompt tuning; anything else is grouped per parameter tensor across layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def param_numel(param) -> int:
    """Elements of one parameter as peft counts them."""
    n = param.numel()
    if n == 0 and hasattr(param, "ds_numel"):  # DeepSpeed ZeRO-3 keeps an empty placeholder
        n = param.ds_numel
    if param.__class__.__name__ == "Params4bit":  # bitsandbytes packs two 4-bit values per byte
        if hasattr(param, "element_size"):
            n *= 2 * param.element_size()
        elif hasattr(param, "quant_storage"):
            n *= 2 * param.quant_storage.itemsize
        else:
            n *= 2
    return n


def count_parameters(model) -> tuple[int, int]:
    """(trainable, all), counted as peft's print_trainable_parameters does (shared tensors once)."""
    trainable = total = 0
    for _, param in model.named_parameters():
        n = param_numel(param)
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


def peft_line(trainable: int, total: int) -> str:
    pct = 100 * trainable / total if total else 0.0
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {pct:.4f}"


def trainable_summary(model) -> str:
    return peft_line(*count_parameters(model))


@dataclass
class Row:
    """One kind of trainable tensor group: e.g. the LoRA pair on every q_proj."""

    module: str
    kind: str
    shape: str
    """"in → out" of an adapted layer, or the tensor shape of a plain parameter."""
    formula: str
    """How the per-module count is made up, e.g. "8 × (896 + 896)"."""
    per_module: int
    count: int = 0
    """How many modules (usually one per layer) carry this group."""

    @property
    def subtotal(self) -> int:
        return self.per_module * self.count


@dataclass
class ParamReport:
    method: str
    trainable: int
    total: int
    rows: list[Row] = field(default_factory=list)
    note: str | None = None

    @property
    def percent(self) -> float:
        return 100 * self.trainable / self.total if self.total else 0.0

    def summary(self) -> str:
        return peft_line(self.trainable, self.total)


_LAYER_INDEX = re.compile(r"((?:^|\.)(?:layers|h|blocks|layer)\.)\d+\.")


def _pattern(name: str) -> str:
    """Parameter name with the decoder-layer index as * and peft's wrapper prefix dropped."""
    return _LAYER_INDEX.sub(r"\1*.", name.removeprefix("base_model.model."))


def _own_trainable(module, prefix: str) -> list[tuple[str, object]]:
    """Trainable parameters of a tuner layer itself (not of the wrapped base layer)."""
    return [(n, p) for n, p in module.named_parameters(prefix=prefix)
            if p.requires_grad and not n[len(prefix):].startswith("base_layer.")]


def _terms_lora(module, params) -> list[tuple[str, int]]:
    terms = []
    names = " ".join(n for n, _ in params)
    a_params = [p for n, p in params if "lora_A" in n or "lora_embedding_A" in n]
    if a_params:
        r = a_params[0].shape[0]
        terms.append((f"{r} × ({module.in_features} + {module.out_features})",
                      r * (module.in_features + module.out_features)))
    if "lora_magnitude_vector" in names:
        terms.append((f"{module.out_features} (DoRA magnitude)", module.out_features))
    return terms


def _terms_ia3(module, params) -> list[tuple[str, int]]:
    if getattr(module, "is_feedforward", False):
        return [(f"{module.in_features} (scales the input)", module.in_features)]
    return [(f"{module.out_features} (scales the output)", module.out_features)]


def _tuner_row(module, path: str, params) -> Row:
    """A row for one peft tuner layer, its formula derived from the layer's own shapes."""
    actual = sum(param_numel(p) for _, p in params)
    kind, terms = "adapter", []
    if hasattr(module, "lora_A"):
        kind = "DoRA" if any("lora_magnitude_vector" in n for n, _ in params) else "LoRA"
        terms = _terms_lora(module, params)
    elif hasattr(module, "ia3_l"):
        kind, terms = "IA3", _terms_ia3(module, params)
    rest = actual - sum(v for _, v in terms)
    if rest:
        terms.append((f"{rest:,d} (other)", rest))
    in_f, out_f = getattr(module, "in_features", "?"), getattr(module, "out_features", "?")
    return Row(module=path.rsplit(".", 1)[-1], kind=kind, shape=f"{in_f} → {out_f}",
               formula=" + ".join(t for t, _ in terms), per_module=actual)


def _bottleneck_row(path: str, module, params) -> Row:
    """A down/up pair around a nonlinearity (the `adapter` method's bottleneck)."""
    h, b = module.down.in_features, module.down.out_features
    terms = [(f"2 × {h} × {b}", 2 * h * b)]
    if module.down.bias is not None:
        terms.append((f"{b}", b))
    if module.up.bias is not None:
        terms.append((f"{h}", h))
    actual = sum(param_numel(p) for _, p in params)
    if actual != sum(v for _, v in terms):
        terms.append((f"{actual - sum(v for _, v in terms):,d} (other)", actual - sum(v for _, v in terms)))
    return Row(module=_pattern(path), kind="bottleneck adapter", shape=f"{h} → {b} → {module.up.out_features}",
               formula=" + ".join(t for t, _ in terms), per_module=actual)


def _is_bottleneck(module) -> bool:
    import torch.nn as nn

    down, up = getattr(module, "down", None), getattr(module, "up", None)
    return (isinstance(down, nn.Linear) and isinstance(up, nn.Linear)
            and down.out_features == up.in_features and up.out_features == down.in_features)


def _prompt_row(name: str, param, peft_config) -> Row:
    n_tokens, width = param.shape[0], param.shape[-1]
    formula = f"{n_tokens} × {width}"
    kind = "virtual tokens"
    if peft_config is not None and param.dim() == 2:
        layers, dim = getattr(peft_config, "num_layers", None), getattr(peft_config, "token_dim", None)
        if layers and dim and width == layers * 2 * dim:
            kind, formula = "prefix (key, value per layer)", f"{n_tokens} tokens × {layers} layers × 2 × {dim}"
        elif dim and width == dim:
            formula = f"{n_tokens} tokens × {dim}"
    return Row(module=_pattern(name), kind=kind, shape=" × ".join(map(str, param.shape)),
               formula=formula, per_module=param_numel(param))


def _plain_row(name: str, param) -> Row:
    dims = list(param.shape)
    formula = " × ".join(map(str, dims)) if len(dims) > 1 else f"{param_numel(param)}"
    return Row(module=_pattern(name), kind="weights", shape=" × ".join(map(str, dims)),
               formula=formula, per_module=param_numel(param))


def _add(rows: dict, row: Row) -> None:
    key = (row.module, row.kind, row.shape, row.formula, row.per_module)
    rows.setdefault(key, row).count += 1


def breakdown(model) -> list[Row]:
    """Rows that add up to the trainable count, in model order."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    rows: dict = {}
    handled: set[int] = set()
    for path, module in model.named_modules():
        if isinstance(module, BaseTunerLayer):
            own = _own_trainable(module, path + "." if path else "")
            row = _tuner_row(module, path, own) if own else None
        elif _is_bottleneck(module):
            own = [(n, p) for n, p in module.named_parameters(prefix=path) if p.requires_grad]
            row = _bottleneck_row(path, module, own) if own else None
        else:
            continue
        if row is not None:
            _add(rows, row)
            handled.update(id(p) for _, p in own)
    peft_configs = getattr(model, "peft_config", {}) or {}
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in handled:
            continue
        if name.startswith("prompt_encoder.") and name.endswith("embedding.weight"):
            adapter = name.split(".")[1]
            _add(rows, _prompt_row(name, param, peft_configs.get(adapter)))
        else:
            _add(rows, _plain_row(name, param))
    return list(rows.values())


def report(model, method: str, note: str | None = None) -> ParamReport:
    trainable, total = count_parameters(model)
    return ParamReport(method=method, trainable=trainable, total=total, rows=breakdown(model), note=note)


def method_params(method, sets: dict | None = None, *, r: int | None = None, target: str | None = None):
    """Method params from --set pairs, with --r and --target mapped onto `r` / `target_modules`."""
    import dataclasses

    from ..config import KnowtuneError

    data = dict(sets or {})
    fields = {f.name for f in dataclasses.fields(method.params_cls)}
    for option, name, value in (("--r", "r", r), ("--target", "target_modules", target)):
        if value is None:
            continue
        if name not in fields:
            raise KnowtuneError(f"method {method.name} has no parameter {name}", field=option)
        data[name] = value
    return method.parse_params(data)


_LORA_SHARED = ("r", "alpha", "dropout", "target_modules")


def _lora_stand_in(method, params):
    """LoRA with the same rank and targets, for LoRA-like methods that need real weights to apply."""
    from .registry import get_method

    if method.name == "lora" or not all(hasattr(params, f) for f in ("r", "target_modules")):
        return None
    lora = get_method("lora")
    return lora, lora.parse_params({f: getattr(params, f) for f in _LORA_SHARED if hasattr(params, f)})


def apply_on_meta(build_model, method, params) -> tuple[object, str | None]:
    """`method` applied to a fresh meta-device model from `build_model()`; (model, note).

    A LoRA-like method whose apply needs real weights (bitsandbytes quantizes them) is
    replaced by LoRA on the same layers and rank, and the note says so.
    """
    from ..config import KnowtuneError

    try:
        return method.apply(build_model(), params), None
    except KnowtuneError:
        raise
    except Exception as err:  # e.g. bitsandbytes needs real weights to quantize
        why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
        stand_in = _lora_stand_in(method, params)
        if stand_in is None:
            raise KnowtuneError(f"{method.name} cannot be applied to a model without weights ({why})",
                                field="method") from None
    lora, lora_params = stand_in
    note = (f"{method.name} cannot be applied to a model without weights ({why}); counted with LoRA's "
            f"arithmetic on the same layers and rank (quantizing the base does not change the count)")
    return lora.apply(build_model(), lora_params), note


def count_method(build_model, method, params) -> ParamReport:
    """Apply `method` to a fresh meta-device model and count what it trains, with the formulas."""
    model, note = apply_on_meta(build_model, method, params)
    return report(model, method.name, note)
