"""Peak training memory from the architecture alone (a meta-device model with the method applied).

Parts, in bytes:
  weights         every parameter at its storage precision: trainable ones in fp32 (peft
                  keeps adapters in fp32), frozen ones in fp32, bf16 or, with --bits 8/4, the
                  decoder's Linear weights quantized (int8: 1 byte; NF4: 0.5 byte + block
                  constants) while embeddings, head and norms stay 16-bit
  gradients       one per trainable parameter, same dtype, unless the method's estimate_state
                  hook says otherwise (BAdam: the active block only; layer-wise GaLore: one
                  tensor at a time)
  optimizer       AdamW's two moments per trainable parameter, unless the method's hook says
                  otherwise (GaLore: the moments of the rank-r projected gradients and the
                  projectors; BAdam: the moments of the active block)
  autocast copies bf16 copies of fp32 Linear weights kept for backward under bf16 autocast
  activations     what autograd saves (train/activations.py has the per-layer rules)
  logits          the output head and the loss: knowtune evaluates the head only at answer
                  tokens (in chunks of CHUNK_ELEMENTS); at the start of backward the fp32
                  log-softmax, its incoming and its outgoing gradient coexist: 12 bytes per
                  answer token and vocabulary entry. Methods that need the model's own forward
                  (virtual tokens) produce logits at every position.
  step scratch    AdamW's per-tensor temporaries (two of the largest trainable tensor)

Peak = weights + optimizer + max(autocast copies + activations + logits,
                                 gradients + max(autocast copies, step scratch)):
activations are freed layer by layer while gradients appear, so the two peaks differ in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn

from ..config import KnowtuneError
from ..methods.accounting import apply_on_meta, count_parameters
from ..methods.contract import StateBytes
from ..methods.layers import base_model
from .activations import ArchDims, Batch, activation_bytes, weight_copy_bytes
from .loss import CHUNK_ELEMENTS

QUANT_BYTES = {8: 1.0, 4: 0.5 + 1 / 64 + 4 / (64 * 256)}
"""Bytes per quantized weight: LLM.int8, and NF4 with double-quantized block constants (64 per block)."""


@dataclass
class StoragePlan:
    precision: str
    """Compute precision: bf16 (autocast) or fp32."""
    bits: int
    """Storage of the frozen base: 32, 16, 8 or 4."""
    trainable_bytes: int

    @property
    def compute_bytes(self) -> int:
        return 2 if self.precision == "bf16" else 4

    @property
    def frozen_bytes(self) -> int:
        return 4 if self.bits == 32 else 2


@dataclass
class MemoryEstimate:
    model: str
    method: str
    plan: StoragePlan
    batch: Batch
    answer_tokens: int
    trainable: int
    total_params: int
    weights: int = 0
    gradients: int = 0
    optimizer: int = 0
    autocast_copies: int = 0
    activations: int = 0
    logits: int = 0
    step_scratch: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def peak(self) -> int:
        forward = self.autocast_copies + self.activations + self.logits
        update = self.gradients + max(self.autocast_copies, self.step_scratch)
        return self.weights + self.optimizer + max(forward, update)

    def parts(self) -> list[tuple[str, int]]:
        return [("weights", self.weights), ("gradients", self.gradients), ("optimizer states", self.optimizer),
                ("autocast bf16 weight copies", self.autocast_copies), ("activations", self.activations),
                ("logits and loss", self.logits), ("optimizer step scratch", self.step_scratch)]


def default_bits(method, params, precision: str) -> int:
    """What knowtune's trainer stores the base in: the method's own quantization (a `bits` param of
    4 or 8, as qlora has), else bf16 for a frozen base computed in bf16, else fp32."""
    if getattr(params, "bits", None) in (4, 8):
        return params.bits
    return 16 if method.frozen_base and precision == "bf16" else 32


def _plan(method, params, precision: str, bits: int | None) -> StoragePlan:
    if precision not in ("bf16", "fp32"):
        raise KnowtuneError(f"must be bf16 or fp32, got {precision!r}", field="--precision")
    bits = bits or default_bits(method, params, precision)
    if bits not in (32, 16, 8, 4):
        raise KnowtuneError(f"must be 32, 16, 8 or 4, got {bits}", field="--bits")
    if bits in (8, 4) and not method.frozen_base:
        raise KnowtuneError(f"{method.name} trains base weights, which cannot be stored in {bits} bits; "
                            f"use a method with a frozen base (lora, qlora, ...)", field="--bits")
    pure_bf16 = bits == 16 and not method.frozen_base  # everything, trainable weights too, in bf16
    return StoragePlan(precision=precision, bits=bits, trainable_bytes=2 if pure_bf16 else 4)


def _quantized_ids(model) -> set[int]:
    """Weights bitsandbytes would quantize: the decoder layers' Linear weights."""
    layers = base_model(model).get_decoder().layers
    return {id(m.weight) for m in layers.modules() if isinstance(m, nn.Linear)
            and not m.weight.requires_grad and m.weight.dim() == 2}


def _param_bytes(param, plan: StoragePlan, quantized: set[int]) -> float:
    if param.requires_grad:
        return plan.trainable_bytes
    if plan.bits in QUANT_BYTES and id(param) in quantized:
        return QUANT_BYTES[plan.bits]
    return plan.frozen_bytes


def _weight_bytes(model, plan: StoragePlan) -> int:
    quantized = _quantized_ids(model) if plan.bits in QUANT_BYTES else set()
    return int(sum(p.numel() * _param_bytes(p, plan, quantized) for p in model.parameters()))


def _autocast_copies(model, plan: StoragePlan) -> int:
    """bf16 copies of fp32 Linear weights (and the head) that autograd keeps until backward, in
    the layers the gradient reaches."""
    if plan.compute_bytes != 2:
        return 0
    base = base_model(model)
    fp32 = {"trainable_fp32": plan.trainable_bytes == 4, "frozen_fp32": plan.bits == 32}
    grad_on, total = False, 0
    for layer in base.get_decoder().layers:
        grad_on = grad_on or any(p.requires_grad for p in layer.parameters())
        if grad_on:
            total += weight_copy_bytes(layer, **fp32)
    head = base.get_output_embeddings()
    return total + (weight_copy_bytes(head, **fp32) if grad_on or head.weight.requires_grad else 0)


def _logits(method, batch: Batch, answer_tokens: int, plan: StoragePlan, vocab: int) -> int:
    if method.uses_model_forward:  # the model's own forward: logits at every position, then fp32
        every = batch.batch * (batch.seq + batch.prompt_tokens)
        return (plan.compute_bytes + 4) * every * vocab + 4 * answer_tokens * vocab
    rows = min(answer_tokens, max(1, CHUNK_ELEMENTS // vocab))
    return 12 * rows * vocab


def _virtual_tokens(model, method) -> tuple[int, int]:
    """(prompt tokens prepended to the input, prefix keys/values per layer) of a prompt-learning method."""
    for config in (getattr(model, "peft_config", None) or {}).values():
        n = getattr(config, "num_virtual_tokens", 0) or 0
        if n and getattr(config, "peft_type", None) is not None:
            return (0, n) if config.peft_type.value == "PREFIX_TUNING" else (n, 0)
    return 0, 0


def estimate_memory(build_model, config, name: str, method, params, *, batch: int, seq: int,
                    answer_tokens: int | None = None, bits: int | None = None, precision: str = "bf16",
                    checkpointing: bool = False) -> MemoryEstimate:
    """Peak training memory of `method` on the model `build_model()` builds on the meta device."""
    if batch <= 0 or seq <= 0:
        raise KnowtuneError("batch and sequence length must be > 0", field="--batch" if batch <= 0 else "--seq")
    plan = _plan(method, params, precision, bits)
    model, note = apply_on_meta(build_model, method, params)
    dims = ArchDims.from_config(config)
    prompt, prefix = _virtual_tokens(model, method)
    shape = Batch(batch=batch, seq=seq, prompt_tokens=prompt, prefix_tokens=prefix)
    answers = min(answer_tokens or batch * seq, batch * seq)
    trainable, total = count_parameters(model)
    est = MemoryEstimate(model=name, method=method.name, plan=plan, batch=shape, answer_tokens=answers,
                         trainable=trainable, total_params=total, notes=[note] if note else [])
    # the method's own state first: it may narrow what holds state at the peak (BAdam's active block)
    state = method.estimate_state(model, params, plan.trainable_bytes) if method.estimate_state else StateBytes()
    est.notes += state.notes
    est.weights = _weight_bytes(model, plan)
    largest = _gradients_and_optimizer(est, model, state)
    est.step_scratch = 2 * largest * plan.trainable_bytes
    est.autocast_copies = _autocast_copies(model, plan)
    residual = _residual_bytes(model, plan)
    est.activations = activation_bytes(model, shape, plan.compute_bytes, residual, dims,
                                       checkpointing=checkpointing)
    est.logits = _logits(method, shape, answers, plan, dims.vocab)
    if checkpointing:
        est.notes.append("gradient checkpointing: each layer keeps its input, one layer is recomputed at a time")
    routed = _routed_serving_bytes(model, method, plan)
    if routed:
        est.notes.append(f"chat and serve (routing on) hold the adapted weights twice, merged and as the base: "
                         f"about {routed / 2**20:,.0f} MiB beyond the merged model (--no-route: none)")
    return est


def _routed_serving_bytes(model, method, plan: StoragePlan) -> int:
    """The bytes of the weights an adapter changes, kept twice where chat and the server route
    questions between the merged model and its base (models.merged.MergedWithBase); 0 where
    nothing is merged (a quantized base, an adapter that cannot merge, a method without a frozen base)."""
    if not (method.frozen_base and method.mergeable) or plan.bits < 16:
        return 0
    adapted = sum(module.base_layer.weight.numel() for module in model.modules()
                  if hasattr(module, "base_layer") and hasattr(module.base_layer, "weight"))
    return adapted * plan.bits // 8


def _gradients_and_optimizer(est: MemoryEstimate, model, state: StateBytes) -> int:
    """Fill in gradients and optimizer states (AdamW's over every trainable tensor, unless the
    method says otherwise); returns the largest trainable tensor's size."""
    tb = est.plan.trainable_bytes
    live = sum(p.numel() for p in model.parameters() if p.requires_grad)
    largest = max((p.numel() for p in model.parameters() if p.requires_grad), default=0)
    est.gradients = live * tb if state.gradients is None else state.gradients
    est.optimizer = 2 * live * tb if state.optimizer is None else state.optimizer
    return largest


def _residual_bytes(model, plan: StoragePlan) -> int:
    """The residual stream's dtype is the input embedding's."""
    embedding = base_model(model).get_input_embeddings().weight
    return plan.trainable_bytes if embedding.requires_grad else plan.frozen_bytes
