"""Save what a method trained, and load it back onto its base model.

peft methods are saved in peft's own format (a stock `PeftModel.from_pretrained` loads
them); the others save only the tensors they trained, as safetensors. Either way a
`knowtune_method.json` beside them names the method, its params and the base model.

Loading the base model itself is the layer above's job (`train/trained.py`): methods and
models sit side by side and do not import each other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..config import KnowtuneError
from .registry import Method, get_method

META_FILE = "knowtune_method.json"
WEIGHTS_FILE = "trained.safetensors"


def trainable_state(model) -> dict:
    return {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_trained(model, method: Method, params, out_dir: str | Path, *, base_model: str,
                 state_dict: dict | None = None) -> Path:
    """`state_dict`: the full state gathered by the distributed engine (ZeRO-3/FSDP shard
    parameters, so the live tensors of one process are not the whole model)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if method.save_format == "peft":
        model.save_pretrained(out_dir, safe_serialization=True, state_dict=state_dict)
    else:
        from safetensors.torch import save_file

        tensors = trainable_state(model)
        if state_dict is not None:
            tensors = {n: state_dict[n].detach().to("cpu").contiguous() for n in tensors}
        save_file(tensors, str(out_dir / WEIGHTS_FILE))
    meta = {"method": method.name, "params": dataclasses.asdict(params), "base_model": base_model}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return out_dir


def read_meta(adapter_dir: str | Path) -> dict:
    path = Path(adapter_dir) / META_FILE
    if not path.is_file():
        raise KnowtuneError("not a trained adapter directory (no knowtune_method.json)",
                            file=str(adapter_dir))
    return json.loads(path.read_text())


def attach_trained(model, adapter_dir: str | Path, meta: dict):
    """Apply the saved method to an already-loaded base model and load its trained tensors."""
    method = get_method(meta["method"])
    params = method.parse_params(meta["params"])
    adapter_dir = Path(adapter_dir)
    if method.prepare_base:
        model = method.prepare_base(model, params)
    if method.save_format == "peft":
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    from safetensors.torch import load_file

    model = method.apply(model, params)
    state = load_file(str(adapter_dir / WEIGHTS_FILE))
    missing = set(state) - {n for n, _ in model.named_parameters()}
    if missing:
        raise KnowtuneError(f"saved tensors do not fit the model: {sorted(missing)[:3]}",
                            file=str(adapter_dir / WEIGHTS_FILE))
    model.load_state_dict(state, strict=False)
    return model
