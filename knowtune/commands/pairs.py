"""`knowtune data pairs`: a built dataset -> preference pairs from a model's own wrong answers.

The model (a base model, or a run's fine-tuned one) answers the dataset's training questions
greedily; each reply that misses the fact's accepted answers becomes a pair with the taught
answer as chosen and the reply as rejected. The output is a dataset directory (the pairs as its
training set, the held-out questions and knowledge copied) that `knowtune train --set stage=dpo`
reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rich.console import Console

from ..config import DEFAULT_MODEL, KnowtuneError, TrainConfig
from ..config.fsutil import atomic_dir, check_output
from ..config.hardware import fast_bf16_available
from ..config.run import Run
from ..data import HELDOUT_FILE, KNOWLEDGE_FILE, STATS_FILE, TRAIN_FILE, load_dataset_dir
from ..data.jsonl import read_jsonl, write_jsonl
from ..data.facts import parse_fact
from ..eval.pairs import pair_questions, wrong_answer_pairs

console = Console(stderr=True)


def pairs_command(data: Path, out: Path, *, model: str | None = None, run: Path | None = None, per_fact: int = 0,
                  seed: int = 0, overwrite: bool = False, quiet: bool = False) -> tuple[Path, dict]:
    """Write the pairs' dataset directory; returns (its path, the counts: asked, right, pairs)."""
    if model is not None and run is not None:
        raise KnowtuneError("give --model or --run, not both", field="--run")
    if per_fact < 0:
        raise KnowtuneError(f"must be >= 0, got {per_fact}", field="--per-fact")
    opened = Run.open(run) if run is not None else None
    check_output(out, "dataset", overwrite=overwrite)  # before the model loads: a refusal costs nothing
    samples, heldout = load_dataset_dir(data)
    facts = _facts(data)
    asked = pair_questions(samples, facts, heldout, per_fact=per_fact, seed=seed)
    if not asked:
        raise KnowtuneError("no training question of a fact to ask (pairs are made from a knowledge base's "
                            "facts: build it with `knowtune data build` from facts or documents)", file=str(data))
    if opened is not None:
        from ..train.trained import load_run

        loaded, _ = load_run(opened)
        system, source = opened.system_prompt, str(run)
    else:
        from ..models import load_model

        loaded = load_model(model or DEFAULT_MODEL)
        system, source = TrainConfig().system_prompt, model or DEFAULT_MODEL
    loaded.model.eval()
    if not quiet:
        console.print(f"{source} answers {len(asked)} training questions")
    pairs, counts = wrong_answer_pairs(loaded.model, loaded.tokenizer, asked, facts, system=system,
                                       bf16=fast_bf16_available())
    if not pairs:
        raise KnowtuneError(f"the model answered all {len(asked)} questions right: no pair to make", file=str(data))
    stats = {"pairs": len(pairs), "questions_asked": counts["asked"], "answered_right": counts["right"],
             "answered_by": source, "from": str(data)}
    with atomic_dir(out, kind="dataset", overwrite=overwrite) as tmp:
        write_jsonl(tmp / TRAIN_FILE, pairs)
        for name in (HELDOUT_FILE, KNOWLEDGE_FILE):
            if (Path(data) / name).is_file():
                shutil.copy(Path(data) / name, tmp / name)
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not quiet:
        console.print(f"{len(pairs)} pairs ({counts['right']} of {counts['asked']} answered right) -> {out}")
    return Path(out), stats


def _facts(data: Path) -> list:
    file = Path(data) / KNOWLEDGE_FILE
    if not file.is_file():
        raise KnowtuneError(f"not a built knowledge base (no {KNOWLEDGE_FILE}); run `knowtune data build`",
                            file=str(data))
    return [parse_fact(obj, file=str(file), line=line) for line, obj in read_jsonl(file, comments=False)]
