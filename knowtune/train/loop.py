"""The one training loop, for every method, on accelerate: set-up, batch stream, steps.

train_model sets a run up (threads, seed, samples tokenized, optimizer, schedule, resume), draws
micro-batches from the batch stream, and runs the steps (train.step). The loss of every
micro-batch is weighed by the answer tokens of its whole step (train.step says how).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

import torch

from ..config import TrainConfig
from ..config.run import PROGRESS_FILE, Run  # noqa: F401  (PROGRESS_FILE: read here by older imports)
from ..data import IGNORE, ChatPrompt, length_grouped_batches, pack_batch, pad_batch, shuffled_batches
from ..methods.optim import adamw
from .attention import attention_for
from .checkpoint import latest_checkpoint, load_checkpoint
from .distill import add_soft_targets, replay_indices
from ..config.hardware import default_threads, resolve_precision
from .hardware import make_accelerator
from .loss import CausalLMLoss
from .preference import (REFERENCE_STAGES, PreferenceLoss, add_reference, collate_pairs, encode_pairs, is_preference,
                         pair_samples)
from .progress import TrainProgress
from .recipe import exposures_per_epoch, resolve_recipe
from .speed import compile_wanted
from .stats import TrainStats
from .step import Training, finish, run_steps, sharded

SHAPE_MULTIPLE = 8  # batch widths rounded up to this many tokens (see speed.py)


def encode_samples(tokenizer, samples: list[dict], max_len: int, system_prompt: str = "") -> list[dict]:
    """The token ids and labels training takes from each sample: rendered as inference renders (data.prompt)."""
    prompt = ChatPrompt(tokenizer, system_prompt)
    return [prompt.encode(s["messages"], max_len) for s in samples]


def make_scheduler(optimizer, cfg: TrainConfig, total_steps: int):
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.lr_scheduler]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps(cfg.warmup_ratio, total_steps),
                         num_training_steps=total_steps)


def warmup_steps(ratio: float, total_steps: int) -> int:
    """Warm-up steps for a ratio of the run, rounded up as the transformers Trainer rounds them.

    Rounding down cut a 50-step run's warm-up from 3 steps to 2, and the sharper start cost
    Gemma-3 LoRA about 5 held-out questions of 146 (bench/RESULTS.md).
    """
    return math.ceil(ratio * total_steps - 1e-9)  # 0.05 * 60 is 3.0000000000000004, still 3 steps


def plan_steps(cfg: TrainConfig, n_batches: int) -> int:
    """Optimizer steps of the run: `epochs` passes, raised to `min_steps` (at most `max_epochs` passes).

    Why a floor: the epochs that teach a few hundred facts leave a small knowledge base with a
    handful of steps, too few for the learning rate schedule to teach anything (24 facts: 21 steps).
    """
    steps = math.ceil(n_batches * cfg.epochs / cfg.grad_accum)
    floor = min(cfg.min_steps, math.ceil(n_batches * cfg.max_epochs / cfg.grad_accum))
    if cfg.stage != "sft":  # a preference stage is passed over its epochs: more passes over-fit the pairs
        floor = 0
    return max(1, steps, floor)


def run_training(model, tokenizer, samples: list[dict], cfg: TrainConfig, method, params,
                 *, accelerator=None, quiet: bool = False, checkpoint_dir: Path | None = None, report=None,
                 resume: bool = False) -> tuple[object, TrainStats]:
    """Train `model` (method already applied) on chat `samples`; returns (model, stats).

    With `checkpoint_dir`, a checkpoint is written every `cfg.save_every` steps and on
    Ctrl-C; `resume` continues bit-exactly from the newest complete one. `report(values, step)`,
    if given, receives each step's loss, learning rate and tokens/s. The recipe is resolved
    here; train_run, which resolved it once for the whole run, calls train_model.
    """
    return train_model(model, tokenizer, samples, resolve_recipe(cfg, samples), method, params,
                       accelerator=accelerator, quiet=quiet, checkpoint_dir=checkpoint_dir, report=report,
                       resume=resume)


def train_model(model, tokenizer, samples: list[dict], cfg: TrainConfig, method, params,
                *, accelerator=None, quiet: bool = False, checkpoint_dir: Path | None = None, report=None,
                resume: bool = False) -> tuple[object, TrainStats]:
    """run_training with `cfg` resolved already (train.recipe.resolve_recipe)."""
    from accelerate.utils import set_seed

    precision = resolve_precision(cfg.precision)
    threads = cfg.threads or default_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    accelerator = accelerator or make_accelerator(precision)
    set_seed(cfg.seed)
    preference = is_preference(cfg.stage)
    if preference:
        samples = pair_samples(samples, cfg.stage)
        features = encode_pairs(tokenizer, samples, cfg.max_len, cfg.system_prompt, cfg.stage)
    else:
        features = encode_samples(tokenizer, samples, cfg.max_len, cfg.system_prompt)
    plan = BatchPlan.of(features, samples, cfg, accelerator, method)
    t = set_up(model, samples, cfg, method, params, accelerator, plan, precision=precision, threads=threads,
               checkpoint_dir=checkpoint_dir, report=report)
    if cfg.stage in REFERENCE_STAGES:  # before a resumed run's weights are loaded: the start is the reference
        add_reference(accelerator.unwrap_model(t.wrapper).model, features, tokenizer.pad_token_id,
                      fast=not method.uses_model_forward, autocast=accelerator.autocast, batch_size=cfg.batch_size)
    if not preference and cfg.replay_topk > 1:  # before a resumed run's weights are loaded: the start is the teacher
        add_soft_targets(accelerator.unwrap_model(t.wrapper).model, features, replay_indices(samples), cfg.replay_topk,
                         tokenizer.pad_token_id, autocast=accelerator.autocast, batch_size=cfg.batch_size)
    resumed = resume_from_checkpoint(t) if resume and checkpoint_dir else False
    stream = micro_batches(plan, features, tokenizer.pad_token_id, skip=(t.first_step - 1) * cfg.grad_accum,
                           collate=collate_pairs if preference else None)
    run_steps(t, stream, progress_bar(t, fresh=not resumed, quiet=quiet))
    return finish(t)


def set_up(model, samples: list[dict], cfg: TrainConfig, method, params, accelerator, plan: "BatchPlan", *,
           precision: str, threads: int, checkpoint_dir: Path | None = None, report=None) -> Training:
    """Steps planned, optimizer and schedule made, the model wrapped for the loss and prepared."""
    per_epoch = len(plan.epoch(0))
    total_steps = plan_steps(cfg, per_epoch)
    # BAdam switches requires_grad block by block while training; the model handed back has the
    # flags apply() set, so saving and counting see everything the method trains
    trainable = [p.requires_grad for p in model.parameters()]
    trained_names = [n for n, p in model.named_parameters() if p.requires_grad]
    if method.make_optimizer:
        optimizer = method.make_optimizer(model, params, cfg.learning_rate, cfg.weight_decay)
    else:
        optimizer = adamw([p for p in model.parameters() if p.requires_grad],
                          lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg, total_steps)
    is_sharded = sharded(accelerator)
    wrapper = make_loss(model, cfg, method, sharded=is_sharded)
    wrapper, optimizer = accelerator.prepare(wrapper, optimizer)
    wrapper.train()
    stats = TrainStats(precision=precision, threads=threads, compiled=compile_wanted(
        cfg.compile, model, method, device=accelerator.device, sharded=is_sharded, total_steps=total_steps))
    stats.epochs = total_steps * cfg.grad_accum / max(per_epoch, 1)
    stats.exposures = stats.epochs * exposures_per_epoch(samples)
    return Training(cfg=cfg, model=model, wrapper=wrapper, optimizer=optimizer, scheduler=scheduler,
                    accelerator=accelerator, stats=stats, total_steps=total_steps, sharded=is_sharded,
                    attention=plan.attention, checkpoint_dir=checkpoint_dir, trainable=trainable,
                    trained_names=trained_names, report=report)


def make_loss(model, cfg: TrainConfig, method, *, sharded: bool):
    """The model inside the stage's loss: answer cross-entropy (sft), or a preference loss on pairs."""
    fast = not method.uses_model_forward
    if is_preference(cfg.stage):
        return PreferenceLoss(model, cfg.stage, cfg.beta, fast=fast)
    return CausalLMLoss(model, fast=fast, sharded=sharded)


def resume_from_checkpoint(t: Training) -> bool:
    """Model, optimizer, schedule and losses as the newest complete checkpoint left them; False if none."""
    found = latest_checkpoint(t.checkpoint_dir)
    if found is None:
        return False
    done = load_checkpoint(found, t.model, t.optimizer, t.scheduler)
    t.first_step = done["step"] + 1
    t.stats.resumed_from = t.stats.steps = done["step"]
    t.stats.losses = [tuple(x) for x in done.get("losses", [])]
    return True


def progress_bar(t: Training, *, fresh: bool, quiet: bool) -> TrainProgress:
    """The progress bar, and the run's progress log (main process only) that the web UI plots."""
    main = t.accelerator.is_main_process
    log_path = Run(t.checkpoint_dir).progress_file if t.checkpoint_dir is not None and main else None
    if log_path is not None and fresh:
        log_path.unlink(missing_ok=True)  # a fresh run starts a fresh log; a resumed one appends
    stats = t.stats
    seen = f", each fact ~{stats.exposures:.0f}x" if stats.exposures else ""
    return TrainProgress(t.total_steps, enabled=main and not quiet, log_path=log_path,
                         description=f"training ({stats.epochs:.1f} epochs{seen})")


@dataclass
class BatchPlan:
    """Which samples make each batch of an epoch, and this process's slice of it."""

    lengths: list[int]
    groups: list
    """The paraphrases of one fact (or the pages of one subject): spaced through each epoch."""
    batch_size: int
    world: int
    rank: int
    seed: int
    attention: object
    """Packed-batch attention (train.attention.attention_for), None: padded batches."""
    packed: bool

    @classmethod
    def of(cls, features: list[dict], samples: list[dict], cfg: TrainConfig, accelerator, method) -> "BatchPlan":
        lengths = [len(f["input_ids"]) for f in features]
        # pairs go in padded batches: a packed row would need each pair's rows kept apart
        attention = None if is_preference(cfg.stage) else attention_for(lengths, accelerator.device)
        return cls(lengths=lengths, groups=[s.get("group", s.get("fact")) for s in samples],
                   batch_size=cfg.batch_size, world=accelerator.num_processes, rank=accelerator.process_index,
                   seed=cfg.seed, attention=attention, packed=attention is not None and not method.uses_model_forward)

    def epoch(self, epoch: int) -> list[list[int]]:
        seed, size = self.seed + epoch, self.batch_size
        batches = (shuffled_batches(len(self.lengths), size * self.world, seed=seed, groups=self.groups) if self.packed
                   else length_grouped_batches(self.lengths, size * self.world, seed=seed))
        # every process takes its slice of each global batch: same global batch as one process
        return [b[self.rank * size:(self.rank + 1) * size] for b in batches]


def micro_batches(plan: BatchPlan, features: list[dict], pad_id, *, skip: int = 0,
                  collate=None) -> Iterator[tuple[dict, int]]:
    """(micro-batch on the host, its samples' tokens) in training order, forever; the first `skip` passed over.

    Packed rows place the prompt start their samples share once (data.pack_batch), so the
    tokens the samples bring are counted here, from the samples: those that carry a label.
    `collate`: another way to make a batch of features (preference pairs: train.preference).
    """
    collate = collate or (partial(pack_batch, share_prefix=True) if plan.packed else pad_batch)
    epoch = 0
    while True:
        for indices in plan.epoch(epoch):
            if skip:
                skip -= 1
                continue
            if indices:
                chosen = [features[i] for i in indices]
                batch = collate(chosen, pad_id, multiple=SHAPE_MULTIPLE)
                tokens = sum(len(f["input_ids"]) for f in chosen if any(x != IGNORE for x in f.get("labels", [0])))
            else:  # this process's slice of a short last batch is empty: a no-loss stand-in keeps
                batch = collate([features[0]], pad_id)  # the processes' collectives in step
                batch["labels"].fill_(IGNORE)  # (it still runs forward: a fully masked row would give NaNs)
                if "ref_logps" in batch:
                    batch["ref_logps"] = batch["ref_logps"][:0]  # and holds no pair
                tokens = 0
            yield batch, tokens
        epoch += 1
