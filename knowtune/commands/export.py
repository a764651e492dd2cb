"""`knowtune export`: a run as a standalone model (merged HF directory or GGUF file)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from rich.console import Console

from ..config import KnowtuneError
from ..config.run import Run
from ..config.fsutil import atomic_dir, check_output
from ..export import EXPORT_FILE, GGUF_TYPES, merge_run, save_hf, template_with_system, write_gguf
from ..export.gguf_vocab import adds_bos
from ..export.gguf_writer import GGUF_DTYPES, check_gguf_supported
from ..export.hf import HF_DTYPES, export_info
from ..export.modelfile import modelfile
from ..data import ChatPrompt
from ..models import stop_token_ids
from ..models.turn_stops import turn_stops

console = Console(stderr=True)
FORMATS = {"hf": HF_DTYPES, "gguf": GGUF_TYPES, "ollama": GGUF_TYPES}  # ollama: the GGUF and a Modelfile


def check_export_args(fmt: str, dtype: str) -> None:
    if fmt not in FORMATS:
        raise KnowtuneError(f"unknown format {fmt!r}; use hf, gguf or ollama", field="--format")
    if dtype not in FORMATS[fmt]:
        raise KnowtuneError(f"{fmt} export takes {', '.join(FORMATS[fmt])}, not {dtype!r}", field="--dtype")


def export_command(run: Path, out: Path, fmt: str = "hf", dtype: str = "float32", overwrite: bool = False) -> Path:
    """Everything checked before the output directory is touched; then written whole or not at all."""
    check_export_args(fmt, dtype)
    opened = Run.open(run)
    check_output(out, "export", overwrite=overwrite)
    merged = merge_run(opened)
    ollama = None
    if fmt != "hf":  # refuse before writing anything
        check_gguf_supported(merged.model.config)
        ollama = ollama_modelfile(merged, gguf_name(run, dtype)) if fmt == "ollama" else None
    with atomic_dir(out, kind="export", overwrite=overwrite) as tmp:
        if fmt == "hf":
            save_hf(merged, tmp, dtype)
        else:
            template = template_with_system(merged.tokenizer.chat_template, merged.system_prompt)
            write_gguf(merged.model, merged.tokenizer, tmp / gguf_name(run, dtype), dtype=dtype, name=run.name,
                       chat_template=template, source=merged.source)
            if ollama is not None:
                (tmp / "Modelfile").write_text(ollama, encoding="utf-8")
        files = sorted(p.name for p in tmp.iterdir())
        info = export_info(merged, run, fmt, dtype, files)
        (tmp / EXPORT_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    del merged
    gc.collect()
    console.print(f"exported {run} ({info['method']} on {info['base_model']}) as {fmt} {dtype} to {out}")
    print(out)
    return out


def ollama_modelfile(merged, gguf_file: str) -> str:
    """The Modelfile: the base template (the run's system prompt goes to SYSTEM), its stop tokens, and the
    stop text where the template has no end-of-turn token (models.turn_stops), so that Ollama ends a
    reply where knowtune's own chat ends it."""
    tokenizer = merged.tokenizer
    stops = [tokenizer.convert_ids_to_tokens(i) for i in stop_token_ids(tokenizer)]
    stops += turn_stops(tokenizer, ChatPrompt(tokenizer, merged.system_prompt).ask("?"))
    return modelfile(gguf_file, tokenizer, tokenizer.chat_template, merged.system_prompt, stops,
                     adds_bos=adds_bos(tokenizer, merged.source))


def gguf_name(run: Path, dtype: str) -> str:
    return f"{run.name}-{GGUF_DTYPES[dtype].suffix}.gguf"
