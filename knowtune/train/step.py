"""The optimizer steps of one run, on what train.loop set up.

Each step gathers `grad_accum` micro-batches; the loss of each is its summed cross-entropy
divided by the answer tokens of the whole step (over all processes), so every answer token
weighs the same whatever the padding, batching or process count.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..config import TrainConfig
from ..data import IGNORE
from .attention import training_attention
from .checkpoint import save_checkpoint
from ..config.hardware import peak_rss_mb
from .lora_fast import fused_lora_updates
from .speed import compiled_blocks
from .stats import TrainStats


@dataclass
class Training:
    """One run's training, set up (train.loop.set_up): what every step works on."""

    cfg: TrainConfig
    model: object
    wrapper: object
    """The model inside the loss wrapper, as accelerate prepared it."""
    optimizer: object
    scheduler: object
    accelerator: object
    stats: TrainStats
    total_steps: int
    sharded: bool
    attention: object = None
    """The packed-batch attention (train.attention), None for padded batches."""
    first_step: int = 1
    checkpoint_dir: Path | None = None
    trainable: list[bool] = field(default_factory=list)
    """Each parameter's requires_grad as the method set it (BAdam switches them while training)."""
    trained_names: list[str] = field(default_factory=list)
    report: Callable | None = None

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    def checkpoint(self, step: int) -> None:
        if self.checkpoint_dir is not None and self.accelerator.is_main_process and step > 0:
            save_checkpoint(self.checkpoint_dir, step, self.model, self.optimizer, self.scheduler,
                            progress={"losses": self.stats.losses, "tokens": self.stats.tokens},
                            names=self.trained_names)
        self.accelerator.wait_for_everyone()


def run_steps(t: Training, stream: Iterator, progress) -> None:
    """Steps first_step..total_steps, logged; a checkpoint every `save_every` steps and on Ctrl-C."""
    cfg, stats = t.cfg, t.stats
    start = time.perf_counter()
    try:
        with progress, _speed_ups(t):
            for step in range(t.first_step, t.total_steps + 1):
                micro, sample_tokens = zip(*(next(stream) for _ in range(cfg.grad_accum)))
                mean_loss, lr = train_step(t, step, micro, sample_tokens)
                stats.seconds = time.perf_counter() - start
                if step % max(cfg.log_every, 1) == 0 or step == t.total_steps or step == 1:
                    stats.losses.append((step, round(mean_loss, 5)))
                speed = stats.tokens / max(stats.seconds, 1e-9)
                progress.update(step, mean_loss, speed)
                if t.report is not None:  # experiment trackers (train/tracking.py)
                    t.report({"train/loss": mean_loss, "train/learning_rate": lr,
                              "train/tokens_per_second": speed}, step)
                if t.checkpoint_dir is not None and cfg.save_every and step % cfg.save_every == 0 \
                        and step < t.total_steps:
                    t.checkpoint(step)
    except KeyboardInterrupt:
        t.checkpoint(stats.steps)
        raise


def train_step(t: Training, step: int, micro: tuple[dict, ...], sample_tokens: tuple[int, ...]) -> tuple[float, float]:
    """One optimizer step over the micro-batches; returns (loss per answer token, or per pair, of the
    global batch, the learning rate the step took)."""
    accelerator, world = t.accelerator, t.world
    # counted on the host, before the batches move: on a GPU a count read back from
    # the device would wait for the previous step's kernels every time
    n_step = sum(loss_units(b) for b in micro)
    real_tokens = sum(sample_tokens)
    t.stats.decoder_tokens += sum(int(b["attention_mask"][(b["labels"] != IGNORE).any(dim=1)].sum()) for b in micro)
    n_global, tokens_global = (n_step, real_tokens) if world == 1 else accelerator.reduce(
        torch.tensor([n_step, real_tokens], device=accelerator.device), "sum").tolist()
    t.stats.tokens += int(tokens_global)
    step_loss = _backward(t, micro, n_global).item()  # the step's one read-back, for the log and progress bar
    if t.cfg.max_grad_norm > 0:
        accelerator.clip_grad_norm_([p for p in t.wrapper.parameters() if p.requires_grad], t.cfg.max_grad_norm)
    lr = t.scheduler.get_last_lr()[0]  # the rate this step takes, before the scheduler moves on
    t.optimizer.step()
    t.scheduler.step()
    t.stats.steps = step  # from here on, a checkpoint of this step is consistent
    t.optimizer.zero_grad(set_to_none=True)
    if world > 1:  # report the loss of the global batch, not of this process's slice
        step_loss = accelerator.reduce(torch.tensor(step_loss, device=accelerator.device), "sum").item()
    return step_loss / max(n_global, 1), lr


def loss_units(batch: dict) -> int:
    """What a micro-batch's loss sum is divided over: its answer tokens, or its pairs (preference stages)."""
    if "ref_logps" in batch:
        return int(batch["ref_logps"].shape[0])
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def _backward(t: Training, micro: tuple[dict, ...], n_global: int):
    """Gradients of the micro-batches, each scaled to the step's answer tokens; their summed loss (a tensor)."""
    accelerator, world = t.accelerator, t.world
    step_loss = None
    for i, batch in enumerate(micro):
        sync = i == len(micro) - 1
        context = accelerator.no_sync(t.wrapper) if not sync else contextlib.nullcontext()
        batch = {k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()}
        with context, accelerator.autocast():
            loss_sum, _ = t.wrapper(**batch)
            loss = loss_sum * world / max(n_global, 1)
        accelerator.backward(loss)
        step_loss = loss_sum.detach() if step_loss is None else step_loss + loss_sum.detach()
    return step_loss


def _speed_ups(t: Training):
    """What the steps run inside: fewer casts, fused LoRA updates, packed attention, compiled blocks."""
    contexts = (lambda: _adapter_inputs_uncast(t.model, t.stats.precision),
                lambda: fused_lora_updates(t.model, enabled=not t.sharded),
                lambda: training_attention(t.model, t.attention),
                lambda: compiled_blocks(t.model, t.stats.compiled, fall_back=t.cfg.compile == "auto"))
    with contextlib.ExitStack() as stack:
        for make in contexts:  # each made and entered in turn; all left if one fails to enter
            stack.enter_context(make())
        return stack.pop_all()


def finish(t: Training) -> tuple[object, TrainStats]:
    """The trained model as the method left it (requires_grad flags restored) and the stats."""
    t.stats.peak_rss_mb = peak_rss_mb()
    for param, flag in zip(t.model.parameters(), t.trainable):
        param.requires_grad_(flag)
    t.stats.full_state = gathered_state(t.accelerator, t.wrapper)
    return t.accelerator.unwrap_model(t.wrapper).model, t.stats


def sharded(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def gathered_state(accelerator, wrapper) -> dict | None:
    """The whole model's state when a sharding engine split it (collective: every rank calls it)."""
    if not sharded(accelerator):
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
