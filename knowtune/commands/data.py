"""`knowtune data build` and `knowtune data show`."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import DEFAULT_MODEL, KnowtuneError
from ..config.fsutil import check_output
from ..data import STATS_FILE, write_dataset
from ..data.augment.boundary import BOUNDARY_SHARE, check_share as check_boundary
from ..data.augment.retrieval import DEFAULT_SHARE, check_share
from ..data.build import HELDOUT_FILE, PRETRAIN_FILE, TRAIN_FILE, build_dataset
from ..data.formats import load_inputs
from ..data.heldout import load_heldout_questions
from ..data.jsonl import read_jsonl
from ..data.knowledge import from_fact
from ..data.prose import ProseResult, synthesize

console = Console()
SPLITS = {"train": TRAIN_FILE, "heldout": HELDOUT_FILE, "pretrain": PRETRAIN_FILE}


def print_stats(stats: dict, title: str = "dataset") -> None:
    table = Table(title=title, show_header=False)
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "\n".join(map(str, value)) if key == "sources" else ", ".join(map(str, value))
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def build_command(files: list[Path], out: Path, *, model: str | None, seed: int, fmt: str | None = None,
                  max_len: int | None = None, over_long: str = "drop", heldout_ratio: float = 0.1,
                  datasets: list[str] | None = None, generator_url: str | None = None,
                  generator_model: str | None = None, generator_key: str | None = None,
                  augment: bool = True, heldout: list[Path] | None = None, overwrite: bool = False,
                  limits: InputLimits | None = None, allow_outside: bool = False,
                  boundary: float | str | None = None, retrieval: float | str | None = None) -> Path:
    boundary = check_boundary(BOUNDARY_SHARE if boundary is None else boundary)
    share = DEFAULT_SHARE if retrieval is None else check_share(retrieval)
    if max_len is not None and max_len <= 0:
        raise KnowtuneError(f"must be > 0, got {max_len}", field="--max-len")
    if over_long not in ("drop", "truncate"):
        raise KnowtuneError(f"must be drop or truncate, got {over_long!r}", field="--over-long")
    if generator_url and not generator_model:
        raise KnowtuneError("--generator-url needs --generator-model", field="--generator-model")
    check_output(out, "dataset", overwrite=overwrite)  # before any reading: a refusal costs nothing
    inputs = load_inputs(files, fmt, datasets=datasets, limits=limits, allow_outside=allow_outside)
    generator = None
    if generator_url:
        from ..data.prose.generator import openai_generator

        generator = openai_generator(generator_url, generator_model, api_key=generator_key)
    prose = synthesize(inputs.documents, generator=generator) if inputs.documents else ProseResult()
    knowledge = [from_fact(f, i) for i, f in enumerate(inputs.facts)] + prose.knowledge
    natural = [q for path in heldout or [] for q in load_heldout_questions(path)]
    built = build_dataset(knowledge, inputs.conversations, prose.pretrain + inputs.texts, seed=seed,
                          heldout_ratio=heldout_ratio, augment=augment, natural=natural, boundary=boundary,
                          retrieval=share)
    if not built.train:
        raise KnowtuneError("no training sample could be made from the input "
                            f"({prose.sentences} sentences, none in a form the question rules read)",
                            file=str(files[0]))
    if inputs.documents:
        built.stats.update(sentences=prose.sentences, sentences_without_questions=prose.sentences_without_questions)
        if generator:
            built.stats.update(generated_questions=prose.generated_questions,
                               generator_failures=prose.generator_failures)
    if model or max_len:
        _token_stats(built, model or DEFAULT_MODEL, max_len, over_long)
    for note in inputs.notes:
        console.print(f"[yellow]note: {note}[/yellow]")
    sources = [f"{s['path']} ({s['format']}, {s['records']} records)" for s in inputs.sources]
    path = write_dataset(built, out, sources=sources, overwrite=overwrite)
    print_stats(dict(built.stats, sources=sources), title=f"built {path}")
    return path


def _token_stats(built, model: str, max_len: int | None, over_long: str) -> None:
    from ..data.limits import add_token_stats, apply_max_len
    from ..models import load_tokenizer, resolve_model_dir

    tokenizer = load_tokenizer(resolve_model_dir(model)[0])
    built.stats["tokenizer"] = model
    if max_len:
        done = apply_max_len(built, tokenizer, max_len, over_long)
        over = done["over_long_dropped"] + done["over_long_truncated"]
        if over:
            console.print(f"[yellow]--max-len {max_len}: {done['over_long_dropped']} over-long samples dropped, "
                          f"{done['over_long_truncated']} truncated[/yellow]")
        if not built.train:
            raise KnowtuneError(f"every training sample is longer than {max_len} tokens", field="--max-len")
    add_token_stats(built, tokenizer)


def show_command(path: Path, n: int = 5, split: str = "train") -> None:
    if split not in SPLITS:
        raise KnowtuneError(f"must be one of {', '.join(SPLITS)}, got {split!r}", field="--split")
    if n < 0:
        raise KnowtuneError(f"must be >= 0, got {n}", field="--n")
    if not (path / TRAIN_FILE).is_file():
        raise KnowtuneError(f"not a built dataset (no {TRAIN_FILE}); run `knowtune data build`", file=str(path))
    file = path / SPLITS[split]
    if not file.is_file():
        raise KnowtuneError(f"this dataset has no {split} split", file=str(file))
    rows = []
    for _, obj in read_jsonl(file, comments=False):
        if len(rows) >= n:
            break
        rows.append(obj)
    table = Table(title=f"{split}: first {len(rows)} of {file}", show_lines=True)
    if split == "train":
        table.add_column("question", max_width=50)
        table.add_column("answer", max_width=70)
        for row in rows:
            users = [m["content"] for m in row.get("messages", []) if m.get("role") == "user"]
            table.add_row(users[-1] if users else "", row["messages"][-1]["content"])
    elif split == "heldout":
        table.add_column("question", max_width=60)
        table.add_column("accepted answers", max_width=60)
        for row in rows:
            table.add_row(str(row.get("question")), ", ".join(map(str, row.get("answers", []))))
    else:
        table.add_column("text", max_width=120)
        for row in rows:
            text = str(row.get("text", ""))
            table.add_row(text[:400] + ("…" if len(text) > 400 else ""))
    console.print(table)
    if (path / STATS_FILE).is_file():
        print_stats(json.loads((path / STATS_FILE).read_text(encoding="utf-8")), title=f"stats of {path}")
