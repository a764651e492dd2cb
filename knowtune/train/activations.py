"""Bytes saved for backward by one training forward, walked module by module over the real
(meta-device) model after the method is applied, for decoder-only transformers with SDPA
attention (Llama, Qwen2, Gemma 3, Mistral and kin).

Notation: T = batch × tokens; c = bytes of the compute dtype (2 under bf16 autocast, 4 in
fp32); h hidden, i intermediate, a query heads, d head dim. Per decoder layer, once the
gradient reaches it (layers before the first trainable one save nothing):

  RMSNorm (rows × width)   4·rows·width (its fp32 input) + 4·rows (rsqrt), + ρ·rows·width
                           when the norm's own weight trains (ρ: bytes of the residual
                           stream; Gemma's norms keep it in fp32: 4)
  Linear, weight trains    c·T·in: its input. Under autocast with an fp32 residual stream
                           q/k/v (and gate/up) each cast their own bf16 copy; otherwise they
                           share one. o_proj's input is the saved attention output: 0.
  LoRA on a Linear         c·T·in, shared like a Linear's input (knowtune's loop turns off
                           peft's input upcast; with it on, each adapter keeps its own
                           copy under autocast) + c·T·r
  DoRA on a Linear         LoRA's + 2·c·T·out (base and LoRA outputs, for the magnitude)
  IA3                      c·T·out when it scales an output; 4·T·in (fp32 copy) for an input
  SDPA attention           c·(2·b·s·a·d + 2·b·s_kv·a·d) for q, out and k, v (k, v expanded to
                           all heads) + 4·b·s·a (log-sum-exp) + c·b·s·s_kv (the padding mask)
  gated MLP                3·c·T·i (activation input and output, up_proj output)

On tiny Llama, Qwen2 and Gemma 3 models these rules give the bytes PyTorch keeps saved
(counted with saved_tensors_hooks in tests/test_estimate.py) exactly for full fine-tuning,
LoRA, DoRA and prompt tuning, within 2 % for IA3, prefix tuning and bottleneck adapters,
and 6 % over for `freeze` (its first trained layer's input needs no gradient).
Not counted: dropout masks (knowtune trains with dropout 0), RoPE tables (shared, tiny).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..methods.layers import base_model

_QKV = {"q_proj", "k_proj", "v_proj"}
_GATE_UP = {"gate_proj", "up_proj"}
_ATTN_OUT = {"o_proj", "out_proj"}


@dataclass(frozen=True)
class Batch:
    batch: int
    seq: int
    """Text tokens per sample (the padded length)."""
    prompt_tokens: int = 0
    """Virtual tokens prepended to the input (prompt tuning): every layer sees them."""
    prefix_tokens: int = 0
    """Virtual keys/values per layer (prefix tuning): attention sees them, nothing else does."""

    @property
    def rows(self) -> int:
        return self.batch * (self.seq + self.prompt_tokens)


def input_group(name: str) -> str:
    """Linears fed by the same tensor (they share one saved input in fp32)."""
    if name in _QKV:
        return "qkv"
    if name in _GATE_UP:
        return "gate_up"
    return name


def _trainable(module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _norm_bytes(module, name: str, rows: int, residual: int, cfg) -> int:
    weight = getattr(module, "weight", None)
    width = weight.numel() if weight is not None else cfg.hidden
    if width != cfg.hidden and width == cfg.head_dim:  # per-head q_norm / k_norm
        rows *= cfg.kv_heads if name.startswith("k") else cfg.heads
    # the normalised input, kept for the weight's gradient: Llama-style norms cast it back to
    # the stream's dtype first, Gemma's (x · (1 + w)) keep it in fp32
    kept = 4 if type(module).__name__.startswith("Gemma") else residual
    own = kept * rows * width if weight is not None and weight.requires_grad else 0
    return 4 * rows * width + 4 * rows + own


def _attention_bytes(batch: Batch, c: int, cfg) -> int:
    s, s_kv = batch.seq + batch.prompt_tokens, batch.seq + batch.prompt_tokens + batch.prefix_tokens
    qo = 2 * batch.batch * s * cfg.heads * cfg.head_dim
    kv = 2 * batch.batch * s_kv * cfg.heads * cfg.head_dim
    return c * (qo + kv) + 4 * batch.batch * s * cfg.heads + c * batch.batch * s * s_kv


def _saved_input(path: str, in_f: int, ctx: "_Ctx", *, casts: bool) -> int:
    """A Linear's saved input. `casts`: this consumer makes its own compute-dtype copy."""
    if casts:
        return ctx.c * ctx.rows * in_f
    parent, _, name = path.rpartition(".")
    group = (parent, input_group(name))
    if name in _ATTN_OUT or group in ctx.shared:  # the attention output is saved by SDPA already
        return 0
    ctx.shared.add(group)
    return ctx.c * ctx.rows * in_f


def _dora_bytes(out_f: int, ctx: "_Ctx") -> int:
    """DoRA's extra over LoRA: the base and the adapter outputs, kept for the magnitude's gradient
    (the weight norm it takes of W + B·A each step is detached, so that graph is freed at once)."""
    return 2 * ctx.c * ctx.rows * out_f + 12 * out_f


def _linear_bytes(module, path: str, ctx: "_Ctx") -> int:
    """Saved input of one Linear (or the peft layer wrapping it) and its adapter's intermediates."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    name = path.rsplit(".", 1)[-1]
    in_f, out_f, rows, c = module.in_features, module.out_features, ctx.rows, ctx.c
    if isinstance(module, BaseTunerLayer) and _trainable(module):
        if hasattr(module, "ia3_l"):
            if getattr(module, "is_feedforward", False):  # peft scales an fp32 copy of the input
                return 4 * rows * in_f if c == 2 else _saved_input(path, in_f, ctx, casts=False)
            return c * rows * out_f
        if hasattr(module, "lora_A"):
            r = sum(a.out_features for a in module.lora_A.values())
            # with peft's input upcast on, autocast casts it back down: a fresh copy for each adapter
            casts = (ctx.adapter_casts and c == 2) or (ctx.cast_each and input_group(name) in ("qkv", "gate_up"))
            total = _saved_input(path, in_f, ctx, casts=casts) + c * rows * r
            if any(p.requires_grad for p in module.lora_magnitude_vector.parameters()):
                total += _dora_bytes(out_f, ctx)
            return total
    base = module.get_base_layer() if isinstance(module, BaseTunerLayer) else module
    if not base.weight.requires_grad:
        return 0
    # autocast casts an fp32 input once per consumer; a bf16 input is saved as is, shared
    casts = ctx.cast_each and input_group(name) in ("qkv", "gate_up")
    return _saved_input(path, in_f, ctx, casts=casts)


@dataclass
class _Ctx:
    rows: int
    c: int
    cast_each: bool
    """Autocast with an fp32 residual stream: each Linear reading it makes its own bf16 copy."""
    adapter_casts: bool
    """peft casts adapter inputs up to the adapter's fp32 (its default; knowtune's loop turns it off)."""
    shared: set


def _mlp_bytes(module, rows: int, c: int, cfg) -> int:
    gated = hasattr(module, "gate_proj")
    return (3 if gated else 2) * c * rows * cfg.intermediate


def layer_bytes(layer, batch: Batch, c: int, residual: int, cfg, *, adapter_casts: bool = False) -> int:
    """Bytes one decoder layer saves for backward (the gradient is assumed to reach it).

    c: compute bytes (2 under bf16 autocast); residual: bytes of the residual stream (the
    embedding's dtype: 4 for fp32 weights, 2 for a bf16 base); adapter_casts: peft's upcast of
    adapter inputs is on (knowtune's training loop turns it off under bf16 autocast).
    """
    import torch.nn as nn
    from peft.tuners.tuners_utils import BaseTunerLayer

    ctx = _Ctx(rows=batch.rows, c=c, cast_each=c == 2 and residual == 4, adapter_casts=adapter_casts, shared=set())
    total, skip = 0, None
    for path, module in layer.named_modules():
        if skip and path.startswith(skip):
            continue
        name = path.rsplit(".", 1)[-1]
        kind = type(module).__name__
        if isinstance(module, (BaseTunerLayer, nn.Linear)):
            total += _linear_bytes(module, path, ctx)
            skip = path + "."
        elif kind.endswith(("RMSNorm", "LayerNorm")):
            total += _norm_bytes(module, name, ctx.rows, residual, cfg)
        elif kind.endswith("Attention"):
            total += _attention_bytes(batch, c, cfg)
        elif kind.endswith("MLP"):
            total += _mlp_bytes(module, ctx.rows, c, cfg)
    return total


@dataclass(frozen=True)
class ArchDims:
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    layers: int

    @classmethod
    def from_config(cls, config) -> "ArchDims":
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = text.num_attention_heads
        return cls(hidden=text.hidden_size, intermediate=text.intermediate_size, heads=heads,
                   kv_heads=getattr(text, "num_key_value_heads", None) or heads,
                   head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
                   vocab=text.vocab_size, layers=text.num_hidden_layers)


def weight_copy_bytes(module, *, trainable_fp32: bool, frozen_fp32: bool) -> int:
    """bf16 copies of fp32 Linear weights that bf16 autocast keeps for backward in `module`:
    trainable ones are cached for the step, frozen ones are saved by the matmul that used them."""
    import torch.nn as nn

    return sum(2 * m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear)
               and (trainable_fp32 if m.weight.requires_grad else frozen_fp32))


def activation_bytes(model, batch: Batch, c: int, residual: int, dims: ArchDims, *,
                     checkpointing: bool = False) -> int:
    """Saved-for-backward bytes of the decoder stack plus its final norm.

    With gradient checkpointing each layer keeps only its input (residual bytes × rows × h)
    and one layer at a time is recomputed in full during backward.
    """
    decoder = base_model(model).get_decoder()
    grad_on = bool(batch.prompt_tokens or batch.prefix_tokens) or _trainable(decoder.get_input_embeddings())
    per_layer = []
    for layer in decoder.layers:
        grad_on = grad_on or _trainable(layer)
        per_layer.append(layer_bytes(layer, batch, c, residual, dims) if grad_on else 0)
    if not grad_on:
        return 0
    final = _norm_bytes(decoder.norm, "norm", batch.rows, residual, dims)
    if checkpointing:
        kept = sum(1 for b in per_layer if b) * residual * batch.rows * dims.hidden
        return kept + max(per_layer) + final
    return sum(per_layer) + final
