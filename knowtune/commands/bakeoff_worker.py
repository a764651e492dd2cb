"""One job of `knowtune compare`, in its own process: train one method (or load the base model)
and score the held-out questions.

Run as `python -m knowtune.commands.bakeoff_worker JOB.json`. Its own process because peak RSS
(ru_maxrss) is per process: each method's memory is then its own, not the largest so far.
The result (or the one-line reason it failed) is written to the job's `result` path.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from ..config import KnowtuneError, TrainConfig
from ..config.coerce import from_dict
from ..config.hardware import fast_bf16_available, peak_rss_mb
from ..data import load_dataset_dir
from ..eval import answer_questions, summarise


def held_out_score(model, tokenizer, data: str, system: str) -> dict:
    _, heldout = load_dataset_dir(Path(data))
    rows = answer_questions(model, tokenizer, heldout, bf16=fast_bf16_available(), system=system)
    return summarise(rows)


def train_job(cfg: TrainConfig, job: dict) -> dict:
    from ..train import count_parameters, train_run

    run = train_run(cfg, job["data"], job["out"], quiet=True)
    trainable, total = count_parameters(run.loaded.model)
    stats = run.stats
    summary = held_out_score(run.loaded.model, run.loaded.tokenizer, job["data"], cfg.system_prompt)
    return {"trainable": trainable, "total_params": total, "seconds": round(stats.seconds, 2),
            "tokens_per_second": round(stats.tokens_per_second, 1), "final_loss": stats.final_loss,
            "peak_rss_mb": round(stats.peak_rss_mb, 1), "steps": stats.steps,
            "after": summary}


def base_job(cfg: TrainConfig, job: dict) -> dict:
    from ..models import load_model

    loaded = load_model(cfg.model, allow_pickle=cfg.allow_pickle, trust_remote_code=cfg.trust_remote_code)
    summary = held_out_score(loaded.model, loaded.tokenizer, job["data"], cfg.system_prompt)
    return {"before": summary, "peak_rss_mb": round(peak_rss_mb(), 1)}


def one_line(err: BaseException) -> str:
    """The reason a job failed, on one line: knowtune's own message, else the exception's first line."""
    if isinstance(err, KnowtuneError):
        return str(err)
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    try:
        cfg = from_dict(TrainConfig, job["config"])
        result = base_job(cfg, job) if job["kind"] == "base" else train_job(cfg, job)
        code = 0
    except Exception as err:  # any failure becomes the method's row; the others still run
        traceback.print_exc()
        result, code = {"error": one_line(err)}, 1
    Path(job["result"]).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return code


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .quiet import quiet_libraries

    quiet_libraries()
    sys.exit(main(sys.argv[1]))
