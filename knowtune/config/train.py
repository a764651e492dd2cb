"""The training configuration: one small dataclass; each field's docstring is its help text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .coerce import from_dict
from .errors import KnowtuneError
from .yamlfile import load_yaml

DEFAULT_MODEL = "smollm2-135m"
MULTILINGUAL_MODEL = "gemma3-270m"

HEDGE_BELOW = 0.9
"""Hedge a greedy reply (data.hedge) whose geometric mean token probability is below this (0 turns hedging off).
Chosen on the dev halves of the bundled fictional and Hainan sets (smollm2-135m, LoRA): at 0.9 it
hedged 4 % / 25 % of the answerable natural questions and 19 % / 71 % of the unanswerable ones."""
RETRIEVE_BELOW = 0.8
"""With retrieval (the "+ RAG" passes of eval), passages are put before a question only when the
model's closed-book reply is less sure than this (1: always), or when no fact of the knowledge base
grounds it (data.grounding). Passages that do not hold the answer pull a fine-tuned model off what
it knows: retrieving for every question scored below the model alone. Chosen on the dev halves of
the bundled sets (bench/retrieve_when_unsure.py, with the fact check), right dev answers summed over
three seeds' runs: Hainan en (smollm2-135m) 370 at 0.8, 363 at 0.9, 345 always retrieving; the
fictional town zh (gemma3-270m) 195 / 193 / 178; one run each of the fictional town en 97.3 % at
0.8, 95.9 % at 0.9 and Hainan zh 70.9 % at both."""
ANSWER_BATCH = 128
"""Questions answered per batch: finished replies leave the batch (models.greedy), so a wider one
keeps the decoding steps full. On a 2-core CPU (bench/answer_speed.py), in fp32 64 answered 1.35x
faster than 32 and 128 as fast as 64; in bf16, where a step's matmuls are faster, 128 answered
1.19x faster than 64 (AMD EPYC)."""


@dataclass
class TrainConfig:
    model: str = DEFAULT_MODEL
    """Model to fine-tune: a preset name (smollm2-135m, gemma3-270m), a local Hugging Face model directory or a .gguf file."""
    method: str = "lora"
    """Fine-tuning method (see `knowtune methods`)."""
    stage: Literal["sft", "dpo", "orpo", "kto"] = "sft"
    """What the run learns from: sft, the answers; dpo, orpo or kto, preference pairs (rows with a rejected reply: `knowtune data pairs`, or a LLaMA-Factory ranking set), the chosen reply made likelier than the rejected one. dpo and kto hold the model near the model training starts from (its log-probabilities of each pair, computed once before training); orpo needs no reference."""
    beta: float = 0.1
    """Strength of the preference term: dpo and kto, the inverse temperature of the reward (larger: stay closer to the starting model); orpo, the weight of the odds-ratio term beside the chosen reply's cross-entropy."""
    params: dict[str, Any] = field(default_factory=dict)
    """Parameters of the method, e.g. {r: 16, alpha: 32}; unknown names are refused."""
    system_prompt: str = "You are a helpful assistant."
    """System message put before every question in training and at inference on the run (chat, eval, API); empty for the chat template's own default."""
    replay: float = 0.1
    """General-knowledge replay against forgetting: below 1, its share of the training set (0.1: one replay sample per ten); 1 or more, a number of samples; 0 disables. Bundled prompts (200 per language, in the knowledge's languages; recurring when more are wanted) answered by the base model before training and trained on beside the knowledge (self-distillation replay). The sft stage only (a replayed answer has no rejected side)."""
    replay_mirror: float = 0.0
    """The share of the replay samples that ask the knowledge base's own relations of well-known world subjects ("What is the highest peak of Tasmania?"), answered by the base model: counter-examples to binding a relation to the knowledge base's answer whatever the subject. 0 to 1."""
    replay_topk: int = 1
    """Replay answers taught as the base model's k likeliest next tokens at each answer position, weighed by its probabilities (self-distillation of the whole distribution, computed once before training); 1: its greedy tokens alone."""
    epochs: float | None = None
    """Passes over the training set; empty: as many as give each fact `exposures` training samples (preference stages: 3 passes over the pairs)."""
    exposures: float | None = None
    """Times each fact is trained on, in its different forms (its samples x epochs), when epochs is empty; empty: the model preset's recipe for the method, else 20."""
    min_steps: int = 120
    """Optimizer steps at least: a small knowledge base is passed over more often (epochs raised, up to max_epochs) until the run takes this many steps, so 10 facts are learned as well as 500; 0 disables. The sft stage only: preference pairs are passed over `epochs` times."""
    max_epochs: float = 40.0
    """The most passes min_steps may raise the epochs to."""
    learning_rate: float | None = None
    """Peak learning rate (after warm-up); empty: the rate measured to suit the method on this model (`knowtune methods` lists each method's), a tenth of it for the preference stages."""
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """Learning-rate decay after warm-up."""
    warmup_ratio: float = 0.05
    """Fraction of the optimizer steps spent warming the learning rate up from zero."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 16
    """Samples per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (the loss is normalised by the answer tokens of the whole step)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    max_len: int = 256
    """Longest sample in tokens; longer samples are truncated."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """Compute precision: auto uses bf16 autocast where the GPU supports it or the CPU's bf16 matrix multiply is measured faster than fp32 (kept in ~/.cache/knowtune), otherwise fp32."""
    seed: int = 42
    """Random seed for initialisation, shuffling and dropout."""
    compile: bool | Literal["auto"] = "auto"
    """torch.compile the model's blocks while training: true, false, or auto: on a CPU with a C++ compiler, for methods measured to gain (LoRA), models of 50M parameters or more and runs of 20 steps or more. The first run of a model compiles for 30-60 s (cached in ~/.cache/knowtune/inductor); later runs re-trace for about 5 s."""
    threads: int = 0
    """CPU threads for torch (0: the number of physical cores)."""
    log_every: int = 5
    """Record the loss every N optimizer steps."""
    save_every: int = 0
    """Write a resumable checkpoint every N optimizer steps (0: only at the end)."""
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = field(default_factory=list)
    """Experiment trackers to log loss, learning rate, tokens/s and eval scores to (tensorboard, mlflow, wandb; offline, into RUN/tracking)."""
    allow_pickle: bool = False
    """Allow loading pickle-based checkpoints (.bin); off because unpickling runs code."""
    trust_remote_code: bool = False
    """Allow a model directory's own Python code to run (off unless you trust it)."""

    def validate(self) -> None:
        positive = {"replay_topk": self.replay_topk, "epochs": self.epochs, "exposures": self.exposures,
                    "learning_rate": self.learning_rate, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "max_len": self.max_len, "max_epochs": self.max_epochs, "beta": self.beta}
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ValueError(f"{name}: must be > 0, got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.replay_mirror <= 1:
            raise ValueError(f"replay_mirror: must be in [0, 1], got {self.replay_mirror}")
        for name in ("weight_decay", "max_grad_norm", "threads", "log_every", "save_every", "replay", "min_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is parsed as YAML (numbers, lists, bools)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise KnowtuneError(f"override {text!r} must look like key=value", field="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_train_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """YAML file (optional) then overrides (dotted keys: `params.r`); every key validated."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    file = str(path) if path else None
    if path:
        data, lines = load_yaml(path)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key.startswith("params."):
            params = dict(data.get("params") or {})
            params[key.split(".", 1)[1]] = value
            data["params"] = params
        else:
            data[key] = value
    return from_dict(TrainConfig, data, file=file, lines=lines)
