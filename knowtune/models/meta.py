"""Models built from their configuration alone, on the meta device: any size, no weights, no memory.

A meta tensor has a shape and a dtype but no storage, so a 70B model is built in a
second and counts exactly like the real one. The configuration comes from:
  - a bundled architecture (knowtune/models/archs/NAME.json, public config.json values;
    the presets have one each, so inspecting them needs no GGUF conversion),
  - a Hugging Face model directory (its config.json),
  - a config.json file,
  - a .gguf file (its metadata only; no weight is read or dequantized).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import KnowtuneError

ARCH_DIR = Path(__file__).resolve().parent / "archs"


@dataclass
class MetaModel:
    model: object
    """The model on the meta device (shapes only)."""
    config: object
    name: str
    source: str
    """Where the configuration came from (a bundled arch file, a directory, a .gguf)."""


def bundled_archs() -> list[str]:
    return sorted(p.stem for p in ARCH_DIR.glob("*.json"))


def _config_from_dict(data: dict, source: str):
    from transformers import AutoConfig

    data = dict(data)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise KnowtuneError("configuration has no model_type", file=source, field="model_type")
    try:
        return AutoConfig.for_model(model_type, **data)
    except (ValueError, KeyError) as err:
        raise KnowtuneError(f"unsupported architecture: {str(err).splitlines()[0]}", file=source,
                            field="model_type") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise KnowtuneError(f"cannot read: {err}", file=str(path)) from None
    except json.JSONDecodeError as err:
        raise KnowtuneError(f"invalid JSON: {err.msg}", file=str(path), line=err.lineno) from None
    if not isinstance(data, dict):
        raise KnowtuneError("must be a JSON object", file=str(path))
    return data


def _gguf_config(path: Path):
    """The model configuration in a GGUF's metadata, read by transformers without loading tensors."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    try:
        data = load_gguf_checkpoint(str(path), return_tensors=False)["config"]
    except (ValueError, KeyError, OSError) as err:
        raise KnowtuneError(f"cannot read GGUF metadata: {str(err).splitlines()[0]}", file=str(path),
                            field="model") from None
    return _config_from_dict(data, str(path))


def load_arch_config(spec: str) -> tuple[object, str, str]:
    """(transformers config, display name, source) for a bundled arch, directory, config file or .gguf."""
    if (ARCH_DIR / f"{spec}.json").is_file():
        path = ARCH_DIR / f"{spec}.json"
        return _config_from_dict(_read_json(path), str(path)), spec, str(path)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise KnowtuneError("GGUF file not found", file=str(path), field="model")
        return _gguf_config(path), path.stem, str(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise KnowtuneError("not a Hugging Face model directory (no config.json)", file=str(path),
                                field="model")
        path = path / "config.json"
        return _config_from_dict(_read_json(path), str(path)), path.parent.name, str(path)
    if path.suffix == ".json" and path.is_file():
        return _config_from_dict(_read_json(path), str(path)), path.stem, str(path)
    raise KnowtuneError(f"unknown model; use a bundled architecture ({', '.join(bundled_archs())}), "
                        f"a model directory, a config.json or a .gguf file", field="model")


def build_meta_model(config):
    """The causal LM of `config` with every tensor on the meta device (fp32 shapes, no storage)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    except ValueError as err:
        raise KnowtuneError(f"no causal LM for this configuration: {str(err).splitlines()[0]}",
                            field="model") from None


def meta_model(spec: str) -> MetaModel:
    config, name, source = load_arch_config(spec)
    return MetaModel(model=build_meta_model(config), config=config, name=name, source=source)
