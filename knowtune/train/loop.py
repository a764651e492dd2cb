"""The one training loop, for every method, on accelerate.

Optimizer steps gather `grad_accum` micro-batches; the loss of each is its summed
cross-entropy divided by the answer tokens of the whole step (over all processes), so
every answer token weighs the same whatever the padding, batching or process count.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from ..config import TrainConfig
from ..config.hardware import default_threads, peak_rss_mb, resolve_precision
from ..config.rundir import PROGRESS_FILE
from ..data import IGNORE, encode_chat, length_grouped_batches, pack_batch, pad_batch, shuffled_batches, with_system
from ..methods.optim import adamw
from .attention import attention_for, training_attention
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .hardware import make_accelerator
from .lora_fast import fused_lora_updates
from .loss import CausalLMLoss
from .progress import TrainProgress
from .recipe import exposures_per_epoch, resolve_recipe
from .speed import compile_wanted, compiled_blocks

SHAPE_MULTIPLE = 8  # batch widths rounded up to this many tokens (see speed.py)


@dataclass
class TrainStats:
    steps: int = 0
    tokens: int = 0
    """Real (non-pad) tokens seen, over all processes."""
    decoder_tokens: int = 0
    """Positions the decoder ran on, this process (a prompt start its samples share counts once)."""
    seconds: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)
    precision: str = "fp32"
    threads: int = 1
    compiled: bool = False
    """Whether the decoder blocks ran compiled (TrainConfig.compile, "auto" decided)."""
    peak_rss_mb: float = 0.0
    resumed_from: int = 0
    """The checkpoint step training resumed from (0: a fresh start)."""
    epochs: float = 0.0
    """Passes over the training set the run planned (epochs, or more where min_steps raised them)."""
    exposures: float = 0.0
    """Times each piece of knowledge is trained on in the run, on average (its samples x epochs)."""
    full_state: dict | None = field(default=None, repr=False)
    """The gathered model state under ZeRO-3/FSDP, for saving (None otherwise)."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def final_loss(self) -> float:
        return self.losses[-1][1] if self.losses else float("nan")

    def to_dict(self) -> dict:
        return {"steps": self.steps, "tokens": self.tokens, "seconds": round(self.seconds, 2),
                "tokens_per_second": round(self.tokens_per_second, 1), "final_loss": self.final_loss,
                "losses": self.losses, "precision": self.precision, "threads": self.threads, "compiled": self.compiled,
                "peak_rss_mb": round(self.peak_rss_mb, 1), "epochs": round(self.epochs, 2),
                "exposures_per_fact": round(self.exposures, 1), "resumed_from": self.resumed_from}


def encode_samples(tokenizer, samples: list[dict], max_len: int, system_prompt: str = "") -> list[dict]:
    return [encode_chat(tokenizer, with_system(s["messages"], system_prompt), max_len) for s in samples]


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
    return max(1, steps, floor)


def run_training(model, tokenizer, samples: list[dict], cfg: TrainConfig, method, params,
                 *, accelerator=None, quiet: bool = False, checkpoint_dir: Path | None = None, report=None,
                 resume: bool = False) -> tuple[object, TrainStats]:
    """Train `model` (method already applied) on chat `samples`; returns (model, stats).

    With `checkpoint_dir`, a checkpoint is written every `cfg.save_every` steps and on
    Ctrl-C; `resume` continues bit-exactly from the newest complete one. `report(values, step)`,
    if given, receives each step's loss, learning rate and tokens/s.
    """
    from accelerate.utils import set_seed

    cfg = resolve_recipe(cfg, samples)
    precision = resolve_precision(cfg.precision)
    threads = cfg.threads or default_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    accelerator = accelerator or make_accelerator(precision)
    set_seed(cfg.seed)
    features = encode_samples(tokenizer, samples, cfg.max_len, cfg.system_prompt)
    lengths = [len(f["input_ids"]) for f in features]
    world, rank = accelerator.num_processes, accelerator.process_index
    attention = attention_for(lengths, accelerator.device)
    packed = attention is not None and not method.uses_model_forward
    # the paraphrases of one fact (or the pages of one subject): spaced through each epoch
    groups = [s.get("group", s.get("fact")) for s in samples]

    def epoch_batches(epoch: int) -> list[list[int]]:
        seed = cfg.seed + epoch
        batches = (shuffled_batches(len(lengths), cfg.batch_size * world, seed=seed, groups=groups) if packed
                   else length_grouped_batches(lengths, cfg.batch_size * world, seed=seed))
        # every process takes its slice of each global batch: same global batch as one process
        return [b[rank * cfg.batch_size:(rank + 1) * cfg.batch_size] for b in batches]

    per_epoch = len(epoch_batches(0))
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
    sharded = _sharded(accelerator)
    wrapper = CausalLMLoss(model, fast=not method.uses_model_forward, sharded=sharded)
    wrapper, optimizer = accelerator.prepare(wrapper, optimizer)
    wrapper.train()

    stats = TrainStats(precision=precision, threads=threads, compiled=compile_wanted(
        cfg.compile, model, method, device=accelerator.device, sharded=sharded, total_steps=total_steps))
    stats.epochs = total_steps * cfg.grad_accum / max(per_epoch, 1)
    stats.exposures = stats.epochs * exposures_per_epoch(samples)
    first_step = 1
    found = latest_checkpoint(checkpoint_dir) if (resume and checkpoint_dir) else None
    if found is not None:
        done = load_checkpoint(found, model, optimizer, scheduler)
        first_step = done["step"] + 1
        stats.resumed_from = stats.steps = done["step"]
        stats.losses = [tuple(x) for x in done.get("losses", [])]
    stream = _micro_batches(epoch_batches, features, tokenizer.pad_token_id, packed=packed,
                            skip=(first_step - 1) * cfg.grad_accum)
    log_path = checkpoint_dir / PROGRESS_FILE if checkpoint_dir is not None and accelerator.is_main_process else None
    if log_path is not None and found is None:
        log_path.unlink(missing_ok=True)  # a fresh run starts a fresh log; a resumed one appends
    seen = f", each fact ~{stats.exposures:.0f}x" if stats.exposures else ""
    progress = TrainProgress(total_steps, enabled=accelerator.is_main_process and not quiet, log_path=log_path,
                             description=f"training ({stats.epochs:.1f} epochs{seen})")
    start = time.perf_counter()

    def checkpoint(step: int) -> None:
        if checkpoint_dir is not None and accelerator.is_main_process and step > 0:
            save_checkpoint(checkpoint_dir, step, model, optimizer, scheduler,
                            progress={"losses": stats.losses, "tokens": stats.tokens}, names=trained_names)
        accelerator.wait_for_everyone()

    try:
        with progress, _adapter_inputs_uncast(model, precision), fused_lora_updates(model, enabled=not sharded), \
                training_attention(model, attention), \
                compiled_blocks(model, stats.compiled, fall_back=cfg.compile == "auto"):
            for step in _train_steps(first_step, total_steps):
                micro, sample_tokens = zip(*(next(stream) for _ in range(cfg.grad_accum)))
                # counted on the host, before the batches move: on a GPU a count read back from
                # the device would wait for the previous step's kernels every time
                n_step = sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro)
                real_tokens = sum(sample_tokens)
                stats.decoder_tokens += sum(int(b["attention_mask"][(b["labels"] != IGNORE).any(dim=1)].sum())
                                            for b in micro)
                n_global, tokens_global = (n_step, real_tokens) if world == 1 else accelerator.reduce(
                    torch.tensor([n_step, real_tokens], device=accelerator.device), "sum").tolist()
                stats.tokens += int(tokens_global)
                step_loss = None
                for i, batch in enumerate(micro):
                    sync = i == len(micro) - 1
                    context = accelerator.no_sync(wrapper) if not sync else contextlib.nullcontext()
                    batch = {k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()}
                    with context, accelerator.autocast():
                        loss_sum, _ = wrapper(**batch)
                        loss = loss_sum * world / max(n_global, 1)
                    accelerator.backward(loss)
                    step_loss = loss_sum.detach() if step_loss is None else step_loss + loss_sum.detach()
                step_loss = step_loss.item()  # the step's one read-back, for the log and progress bar
                if cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_([p for p in wrapper.parameters() if p.requires_grad],
                                                cfg.max_grad_norm)
                lr = scheduler.get_last_lr()[0]  # the rate this step takes, before the scheduler moves on
                optimizer.step()
                scheduler.step()
                stats.steps = step  # from here on, a checkpoint of this step is consistent
                optimizer.zero_grad(set_to_none=True)
                if world > 1:  # report the loss of the global batch, not of this process's slice
                    step_loss = accelerator.reduce(torch.tensor(step_loss, device=accelerator.device), "sum").item()
                mean_loss = step_loss / max(n_global, 1)
                stats.seconds = time.perf_counter() - start
                if step % max(cfg.log_every, 1) == 0 or step == total_steps or step == 1:
                    stats.losses.append((step, round(mean_loss, 5)))
                progress.update(step, mean_loss, stats.tokens / max(stats.seconds, 1e-9))
                if report is not None:  # experiment trackers (train/tracking.py)
                    report({"train/loss": mean_loss, "train/learning_rate": lr,
                            "train/tokens_per_second": stats.tokens / max(stats.seconds, 1e-9)}, step)
                if checkpoint_dir is not None and cfg.save_every and step % cfg.save_every == 0 \
                        and step < total_steps:
                    checkpoint(step)
    except KeyboardInterrupt:
        checkpoint(stats.steps)
        raise
    stats.peak_rss_mb = peak_rss_mb()
    for param, flag in zip(model.parameters(), trainable):
        param.requires_grad_(flag)
    stats.full_state = gathered_state(accelerator, wrapper)
    return accelerator.unwrap_model(wrapper).model, stats


def _sharded(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def gathered_state(accelerator, wrapper) -> dict | None:
    """The whole model's state when a sharding engine split it (collective: every rank calls it)."""
    if not _sharded(accelerator):
        return None
    state = accelerator.get_state_dict(wrapper)
    return {name.removeprefix("model."): tensor for name, tensor in state.items()}


def _adapter_inputs_uncast(model, precision: str):
    """Under bf16 autocast, stop peft casting every adapter input up to the fp32 adapter weights.

    Autocast casts it straight back down for the matmul; skipping the round trip saves two
    activation copies per adapted layer (casts were a fifth of a LoRA step's CPU time).
    """
    if precision != "bf16" or not hasattr(model, "peft_config"):
        return contextlib.nullcontext()
    if any(config.peft_type != "LORA" for config in model.peft_config.values()):
        return contextlib.nullcontext()  # only LoRA layers (LoRA, DoRA, QLoRA) have the switch; IA3's do not
    from peft.helpers import disable_input_dtype_casting

    return disable_input_dtype_casting(model)


def _train_steps(first: int, last: int):
    return range(first, last + 1)


def _micro_batches(epoch_batches, features, pad_id, *, packed: bool, skip: int = 0):
    """(micro-batch on the host, its samples' tokens) in training order, forever; the first `skip` passed over.

    Packed rows place the prompt start their samples share once (data.pack_batch), so the
    tokens the samples bring are counted here, from the samples: those that carry a label.
    """
    collate = partial(pack_batch, share_prefix=True) if packed else pad_batch
    epoch = 0
    while True:
        for indices in epoch_batches(epoch):
            if skip:
                skip -= 1
                continue
            if indices:
                chosen = [features[i] for i in indices]
                batch = collate(chosen, pad_id, multiple=SHAPE_MULTIPLE)
                tokens = sum(len(f["input_ids"]) for f in chosen if any(x != IGNORE for x in f["labels"]))
            else:  # this process's slice of a short last batch is empty: a no-loss stand-in keeps
                batch = collate([features[0]], pad_id)  # the processes' collectives in step
                batch["labels"].fill_(IGNORE)  # (it still runs forward: a fully masked row would give NaNs)
                tokens = 0
            yield batch, tokens
        epoch += 1
