"""`knowtune train`: data + config -> a run directory written whole (adapter, config, metrics, plot)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from ..config import MULTILINGUAL_MODEL, KnowtuneError, TrainConfig
from ..config.fsutil import check_output, marker_kind, remove_output, replace_dir, write_marker
from ..config.run import DATA_DIR, RUN_KIND, Run, partial_dir
from ..data.jsonl import read_jsonl, write_jsonl
from ..data import (HELDOUT_FILE, KNOWLEDGE_FILE, STATS_FILE, build_samples, load_dataset_dir, load_facts,
                    write_dataset)
from ..methods import get_method, save_trained
from ..models import LoadedModel, load_model
from .accounting import trainable_summary
from .checkpoint import CHECKPOINTS, latest_checkpoint
from ..config.hardware import resolve_precision
from .hardware import make_accelerator
from .loop import TrainStats, train_model
from .plots import plot_loss
from .preference import is_preference, pair_samples
from .recipe import resolve_recipe
from ..data.replay import replay_plan
from .replay import replay_samples
from .tracking import check_trackers, open_tracking

console = Console(stderr=True)


@dataclass
class TrainedRun:
    path: Path
    loaded: LoadedModel
    stats: TrainStats
    config: TrainConfig
    """What the run trained with: model chosen, recipe resolved (as in its config.yaml)."""
    is_main_process: bool = True


def prepare_data(data: str | Path, work: Path) -> Path:
    """A built dataset directory as is, or a facts file (or files, comma-separated) built on the fly."""
    path = Path(data)
    if path.is_dir():
        return path
    files = [Path(p) for p in str(data).split(",")]
    facts = load_facts(files)
    built = build_samples(facts)
    return write_dataset(built, work / DATA_DIR, sources=[str(f) for f in files])


def choose_model(cfg: TrainConfig, heldout: list[dict], *, model_named: bool) -> TrainConfig:
    """Mostly-Chinese knowledge and no model named: take the multilingual preset, and say so."""
    langs = Counter(q.get("lang", "en") for q in heldout)
    if not model_named and langs and langs.most_common(1)[0][0] == "zh" and cfg.model != MULTILINGUAL_MODEL:
        console.print(f"[yellow]knowledge is mostly Chinese: using the multilingual preset "
                      f"{MULTILINGUAL_MODEL} (name --model to choose another)[/yellow]")
        cfg.model = MULTILINGUAL_MODEL
    return cfg


def base_dtype(cfg: TrainConfig, method) -> str:
    """Frozen base weights are held in bf16 when computing in bf16: half the memory, no re-casts."""
    return "bfloat16" if method.frozen_base and resolve_precision(cfg.precision) == "bf16" else "float32"


def load_for_training(cfg: TrainConfig, loaded: LoadedModel | None = None, *, on_base=None):
    """Load the base model (unless given) and apply the method; returns (loaded, method, params).

    `on_base(loaded)` runs on the base model before the method changes it (replay answers).
    The recipe is resolved here; train_run, which resolved it once for the run, calls load_resolved.
    """
    return load_resolved(resolve_recipe(cfg), loaded, on_base=on_base)


def load_resolved(cfg: TrainConfig, loaded: LoadedModel | None = None, *, on_base=None):
    """load_for_training with `cfg` already resolved (train.recipe.resolve_recipe)."""
    method = get_method(cfg.method)
    params = method.parse_params(cfg.params)
    if loaded is None:
        extra = method.load_kwargs(params) if method.load_kwargs else {}
        extra.setdefault("dtype", base_dtype(cfg, method))
        loaded = load_model(cfg.model, allow_pickle=cfg.allow_pickle,
                            trust_remote_code=cfg.trust_remote_code, **extra)
    import torch

    if on_base is not None:
        on_base(loaded)
    torch.manual_seed(cfg.seed)  # adapter initialisation is part of the seeded run
    loaded.model = method.apply(loaded.model, params)
    return loaded, method, params


def read_knowledge(data_dir: Path) -> list[dict]:
    """The data set's knowledge rows (subject, relation, answer, lang); none for a set without facts."""
    path = Path(data_dir) / KNOWLEDGE_FILE
    return [row for _, row in read_jsonl(path)] if path.is_file() else []


def replay_count(replay: float, n_samples: int) -> int:
    """Replay samples for a training set: `replay` below 1 is their share of it, else their number."""
    return round(replay * n_samples) if replay < 1 else int(replay)


def make_replay(base: LoadedModel, cfg: TrainConfig, heldout: list[dict], n_samples: int, *,
                quiet: bool, knowledge: list[dict] = ()) -> list[dict]:
    """The base model's own answers to general prompts in the knowledge's languages (cfg.replay), a
    share of them (cfg.replay_mirror) the knowledge's relations asked of world subjects.

    The sft stage only: a preference stage trains on pairs, and a replayed answer has no rejected side.
    """
    count = replay_count(cfg.replay, n_samples) if cfg.stage == "sft" else 0
    if count <= 0:
        return []
    from rich.progress import Progress

    langs = [q.get("lang", "en") for q in heldout]
    plan = replay_plan(langs, count, list(knowledge), cfg.replay_mirror)
    with Progress(console=console, transient=True, disable=quiet) as progress:
        asked = len(set(plan))  # each bundled prompt once, however often it recurs
        task = progress.add_task("replay: the base model answers general prompts", total=asked)
        samples = replay_samples(base.model, base.tokenizer, plan, system=cfg.system_prompt,
                                 bf16=resolve_precision(cfg.precision) == "bf16",
                                 progress=lambda n: progress.advance(task, n))
    if not quiet:
        console.print(f"replay: {len(samples)} of {count} general-knowledge answers of the base model "
                      f"mixed in (the rest were cut short, echoes or loops; --set replay=0 turns this off)")
    return samples


def train_run(cfg: TrainConfig, data: str | Path, out: str | Path, *, model_named: bool = True,
              loaded: LoadedModel | None = None, quiet: bool = False, resume: bool = False,
              accelerator=None, overwrite: bool = False, replace_same_kind: bool = False) -> TrainedRun:
    """Train and write the run directory; only the main process writes.

    The run is built in `.NAME.partial` (checkpoints included) and renamed to NAME when
    complete: an interrupted run never appears under its final name, and `resume`
    continues from the newest checkpoint in the partial directory. An existing run (or an
    interrupted one's checkpoints) is replaced only with `overwrite` (`replace_same_kind`: a
    knowtune run may be replaced without it, as the demo does with its own).
    """
    out = check_output(out, RUN_KIND, overwrite=overwrite, replace_same_kind=replace_same_kind)
    work = Run(partial_dir(out))
    accelerator = accelerator or make_accelerator(cfg.precision)
    main = accelerator.is_main_process
    check_trackers(cfg.report_to)
    if main:
        _clear_partial(work.path, resume=resume, overwrite=overwrite)
        work.path.mkdir(parents=True, exist_ok=True)
        write_marker(work.path, RUN_KIND)
    accelerator.wait_for_everyone()
    tracking: list = []  # the experiment tracker, once open: closed however training ends
    try:
        done = _train(cfg, data, work, accelerator, tracking, name=out.name, loaded=loaded, quiet=quiet,
                      resume=resume, model_named=model_named or loaded is not None)
    except KeyboardInterrupt:
        _close(tracking)
        if main and latest_checkpoint(work.path):
            console.print(f"[yellow]interrupted: checkpoint saved; continue with the same command "
                          f"and --resume[/yellow]")
        elif main:
            shutil.rmtree(work.path, ignore_errors=True)
        raise
    except BaseException:
        _close(tracking)
        if main and not latest_checkpoint(work.path):
            shutil.rmtree(work.path, ignore_errors=True)  # nothing worth resuming: leave no trace
        raise
    done.loaded.model.eval()
    _close(tracking)  # before the directory is renamed
    if main:
        write_run(work, done)
        check_output(out, RUN_KIND, overwrite=overwrite, replace_same_kind=replace_same_kind)
        replace_dir(work.path, out)
    accelerator.wait_for_everyone()
    done.stats.full_state = None
    return TrainedRun(path=out, loaded=done.loaded, stats=done.stats, config=done.config, is_main_process=main)


@dataclass
class _Trained:
    """What train_run writes into the run directory."""

    loaded: LoadedModel
    method: object
    params: object
    stats: TrainStats
    config: TrainConfig
    data_dir: Path
    summary: str


def _train(cfg: TrainConfig, data: str | Path, work: Run, accelerator, tracking: list, *, name: str,
           loaded: LoadedModel | None, quiet: bool, resume: bool, model_named: bool) -> _Trained:
    """Data, model, replay and training; the recipe is resolved here, once, with the samples."""
    main = accelerator.is_main_process
    data_dir = prepare_data(data, work.path) if main else None
    data_dir = Path(_broadcast(accelerator, str(data_dir) if data_dir else None))
    samples, heldout = load_dataset_dir(data_dir)
    if is_preference(cfg.stage):  # refused before any model loads
        pair_samples(samples, cfg.stage, file=str(data_dir))
    cfg = resolve_recipe(choose_model(cfg, heldout, model_named=model_named), samples)
    replay: list[dict] = []

    def answer_replay(base: LoadedModel) -> None:
        answers = make_replay(base, cfg, heldout, len(samples), quiet=quiet,
                              knowledge=read_knowledge(data_dir)) if main else None
        replay.extend(_broadcast(accelerator, answers))

    loaded, method, params = load_resolved(cfg, loaded, on_base=answer_replay)
    if main and replay:
        write_jsonl(work.replay_file, replay)
    samples = samples + replay
    summary = trainable_summary(loaded.model)
    if not quiet and main:
        console.print(f"[bold]{cfg.method}[/bold] on {loaded.name}: {summary}")
    if main and cfg.report_to:
        tracking.append(open_tracking(cfg.report_to, work.path, run_name=name, config=cfg.to_dict()))
    loaded.model, stats = train_model(loaded.model, loaded.tokenizer, samples, cfg, method, params,
                                      quiet=quiet, accelerator=accelerator, checkpoint_dir=work.path,
                                      resume=resume, report=tracking[0].log if tracking else None)
    return _Trained(loaded, method, params, stats, cfg, data_dir, summary)


def _close(tracking: list) -> None:
    while tracking:
        tracking.pop().finish()


def _broadcast(accelerator, value):
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def _clear_partial(work: Path, *, resume: bool, overwrite: bool) -> None:
    """Keep an interrupted run's checkpoints for --resume; remove them only with --overwrite."""
    if not work.exists() and not work.is_symlink():
        return
    if resume and latest_checkpoint(work):
        return
    if latest_checkpoint(work) and not overwrite:
        raise KnowtuneError("holds an interrupted run's checkpoints: add --resume to continue it, "
                            "or --overwrite to start again", file=str(work))
    if not overwrite and work.is_dir() and any(work.iterdir()) and marker_kind(work) != RUN_KIND:
        raise KnowtuneError("exists and has no knowtune marker; use --overwrite to replace it", file=str(work))
    remove_output(work)


def write_run(run: Run, done: _Trained) -> None:
    """What was trained, its config, summary and loss curve; the checkpoints go (the run is complete)."""
    cfg, stats = done.config, done.stats
    save_trained(done.loaded.model, done.method, done.params, run.adapter_dir, base_model=cfg.model,
                 state_dict=stats.full_state)
    run.config_file.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
    for name in (HELDOUT_FILE, KNOWLEDGE_FILE, STATS_FILE):
        if (done.data_dir / name).is_file() and not (run.path / name).exists():
            shutil.copy(done.data_dir / name, run.path / name)
    info = {"data": DATA_DIR if done.data_dir.parent == run.path else str(done.data_dir),
            "model": cfg.model, "method": cfg.method, "trainable": done.summary, "train": stats.to_dict()}
    run.info_file.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    plot_loss(stats.losses, run.loss_plot, title=f"{cfg.method} on {cfg.model}")
    shutil.rmtree(run.path / CHECKPOINTS, ignore_errors=True)
