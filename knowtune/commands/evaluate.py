"""`knowtune eval`."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ..config import KnowtuneError, TrainConfig, load_train_config
from ..data import HELDOUT_FILE
from ..eval import accuracy_line, answer_questions, load_questions, summarise, write_results
from ..train.hardware import fast_bf16_available
from ..train.run import ADAPTER_DIR

console = Console()


def score(model, tokenizer, questions: list[dict], label: str, system: str = "") -> tuple[list[dict], dict]:
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"answering ({label})", total=len(questions))
        rows = answer_questions(model, tokenizer, questions, bf16=fast_bf16_available(), system=system,
                                progress=lambda n: progress.advance(task, n))
    return rows, summarise(rows)


def eval_command(run: Path | None, model: str | None, questions_file: Path | None, base: bool,
                 out: Path | None) -> dict:
    if (run is None) == (model is None):
        raise KnowtuneError("give exactly one of --run or --model", field="--run")
    if run is not None:
        if not (run / ADAPTER_DIR).is_dir():
            raise KnowtuneError("not a run directory (no adapter/)", file=str(run), field="--run")
        questions_file = questions_file or run / HELDOUT_FILE
        from ..methods import load_trained

        loaded, meta = load_trained(run / ADAPTER_DIR)
        system = load_train_config(run / "config.yaml").system_prompt
    else:
        if questions_file is None:
            raise KnowtuneError("a base model needs --questions", field="--questions")
        from ..models import load_model

        loaded, meta = load_model(model), {"base_model": model}
        system = TrainConfig().system_prompt
    questions = load_questions(questions_file)
    out = out or (run / "eval" if run is not None else Path("eval") / loaded.name)
    results = {}
    if base and run is not None:
        base_rows, base_sum = _score_base(loaded, meta, questions, system)
        write_results(out, "base", base_rows, base_sum)
        results["base"] = base_sum
        console.print(f"base  {accuracy_line(base_sum)}")
    rows, summary = score(loaded.model, loaded.tokenizer, questions, "model", system)
    write_results(out, "model", rows, summary)
    results["model"] = summary
    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    console.print(f"answers: {out / 'model_answers.jsonl'}")
    print(accuracy_line(summary))
    return results


def _score_base(loaded, meta, questions, system):
    """The base model on the same questions: the adapter switched off, or the base loaded anew."""
    model = loaded.model
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            return score(model, loaded.tokenizer, questions, "base", system)
    from ..models import load_model

    plain = load_model(meta["base_model"])
    return score(plain.model, plain.tokenizer, questions, "base", system)
