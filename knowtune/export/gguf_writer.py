"""Write a merged model as a GGUF file, laid out as llama.cpp's own converter lays it out.

Llama (SmolLM2), Qwen2 and Gemma 3 (text) bases. Tensor names come from gguf's own name map;
what llama.cpp's converter changes on the way is done here, per architecture:

- Llama: q/k projections re-ordered into the interleaved rotary layout of llama.cpp's "norm"
  rope (Qwen2 and Gemma 3 use the "neox" rope, which is HF's layout: nothing to do);
- Gemma 3: RMSNorm scales by (1 + weight) in transformers, by weight in llama.cpp: 1 is added;
  llama.cpp derives sliding-window layers (every 6th global) and the local rope base (10,000)
  itself, so only bases built that way are written.

transformers' GGUF loader undoes each of these, which is what the tests read back with.
Norms and other 1-D tensors stay f32, as llama.cpp's converter keeps them. With q4_0 the token
embeddings and the output head stay q8_0 (`stored_type`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import KnowtuneError
from .gguf_vocab import add_tokenizer, source_gguf, source_pre_tokenizer


@dataclass(frozen=True)
class GgufType:
    file_type: str
    """gguf.LlamaFileType's name for a file of this type."""
    quant: str | None
    """gguf.GGMLQuantizationType's name of its 2-D tensors, where gguf's quantizer writes them (else numpy's cast)."""
    suffix: str
    """The file name's tag: run-f16.gguf."""


GGUF_DTYPES = {"float32": GgufType("ALL_F32", None, "f32"), "float16": GgufType("MOSTLY_F16", None, "f16"),
               "bfloat16": GgufType("MOSTLY_BF16", "BF16", "bf16"), "q8_0": GgufType("MOSTLY_Q8_0", "Q8_0", "q8_0"),
               "q4_0": GgufType("MOSTLY_Q4_0", "Q4_0", "q4_0")}
GGUF_TYPES = tuple(GGUF_DTYPES)
# A 4-bit head's error lands on every logit (and the small presets tie it to the token embeddings):
# llama.cpp's own quantizer keeps the head at 6 bits for q4_0, a type gguf's Python quantizer cannot write,
# so the next one up it can.
HEAD_TENSORS = ("token_embd.weight", "output.weight")
__all__ = ["GGUF_DTYPES", "GGUF_TYPES", "SUPPORTED", "check_gguf_supported", "source_pre_tokenizer", "stored_type",
           "write_gguf"]


@dataclass(frozen=True)
class Arch:
    name: str
    """general.architecture, and gguf.MODEL_ARCH's name for the tensor map."""
    interleave_qk: bool = False
    norm_offset: float = 0.0
    biases: bool = False
    """q/k/v biases allowed (Qwen2 has them)."""


SUPPORTED = {"LlamaForCausalLM": Arch("llama", interleave_qk=True), "Qwen2ForCausalLM": Arch("qwen2", biases=True),
             "Gemma3ForCausalLM": Arch("gemma3", norm_offset=1.0)}


def _rows_of_heads(weight, n_heads: int):
    """HF keeps the two rotary halves of each head apart; llama.cpp's Llama interleaves them."""
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _rope(config) -> dict:
    """The (global layers') rope parameters, whether flat or per layer type (Gemma 3)."""
    rope = getattr(config, "rope_parameters", None) or {}
    return rope.get("full_attention", rope) if isinstance(rope.get("full_attention"), dict) else rope


def check_gguf_supported(config) -> Arch:
    """The architecture's layout, or a one-line refusal naming what llama.cpp would not reproduce."""
    name = (config.architectures or ["?"])[0]
    arch = SUPPORTED.get(name)
    if arch is None:
        raise KnowtuneError(f"GGUF export supports {', '.join(SUPPORTED)}, not {name}; use --format hf",
                            field="--format")
    unsupported = []
    if _rope(config).get("rope_type", "default") != "default":
        unsupported.append("rope scaling")
    if (getattr(config, "attention_bias", False) and not arch.biases) or getattr(config, "mlp_bias", False):
        unsupported.append("biases")
    if getattr(config, "use_sliding_window", False):
        unsupported.append("sliding-window attention")
    if arch.name == "gemma3":
        unsupported += _gemma3_differences(config)
    if unsupported:
        raise KnowtuneError(f"GGUF export of {name} does not support {', '.join(unsupported)}; use --format hf",
                            field="--format")
    return arch


def _gemma3_differences(config) -> list[str]:
    """What a Gemma 3 base does differently from the fixed choices llama.cpp makes for gemma3."""
    head_dim = config.head_dim
    pattern = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(config.num_hidden_layers)]
    local = (getattr(config, "rope_parameters", None) or {}).get("sliding_attention") or {}
    found = []
    if list(getattr(config, "layer_types", pattern)) != pattern:
        found.append("a sliding-window pattern other than every 6th layer global")
    if local.get("rope_theta", 10000.0) != 10000.0 or local.get("rope_type", "default") != "default":
        found.append("a local rope other than base 10000")
    if getattr(config, "query_pre_attn_scalar", head_dim) != head_dim:
        found.append("query_pre_attn_scalar other than head_dim")
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "attn_logit_softcapping", None):
        found.append("logit soft-capping")
    return found


def _hyperparameters(writer, config, name: str, arch: Arch) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = _rope(config)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    if arch.name != "gemma3":  # llama.cpp's gemma3 takes the rope dimension from key_length
        writer.add_rope_dimension_count(head_dim)
    if head_dim * config.num_attention_heads != config.hidden_size or arch.name == "gemma3":
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    if arch.name == "gemma3":
        writer.add_sliding_window(config.sliding_window)
    writer.add_vocab_size(config.vocab_size)


def stored_type(gguf_name: str, dtype: str) -> str:
    """The type one 2-D tensor is written in, for a file of `dtype`."""
    return "q8_0" if dtype == "q4_0" and gguf_name in HEAD_TENSORS else dtype


def _encode(array, dtype: str):
    """(data, raw quant type or None) for one tensor; 1-D tensors and odd rows stay exact."""
    import gguf
    import numpy as np

    if array.ndim == 1 or dtype == "float32":
        return array.astype(np.float32), None
    if dtype == "float16":
        return array.astype(np.float16), None
    qtype = getattr(gguf.GGMLQuantizationType, GGUF_DTYPES[dtype].quant)
    if array.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:  # q8_0 and q4_0 work on blocks of 32 values per row
        return array.astype(np.float16), None
    return gguf.quants.quantize(array.astype(np.float32), qtype), qtype


def _tensors(model, arch: Arch):
    """(llama.cpp name, float32 tensor) in llama.cpp's layout."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch.name.upper()), config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when there is no output tensor
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise KnowtuneError(f"no GGUF name for tensor {hf_name!r}", field="--format")
        array = tensor.detach().to("cpu").float()
        if arch.interleave_qk and hf_name.endswith("q_proj.weight"):
            array = _rows_of_heads(array, config.num_attention_heads)
        elif arch.interleave_qk and hf_name.endswith("k_proj.weight"):
            array = _rows_of_heads(array, config.num_key_value_heads)
        elif arch.norm_offset and hf_name.endswith("norm.weight"):
            array = array + arch.norm_offset
        yield gguf_name, array


def write_gguf(model, tokenizer, path: Path, *, dtype: str, name: str, chat_template: str,
               pre_tokenizer: str | None = None, source: str | Path | None = None) -> None:
    """`source`: the base model's directory (its source GGUF's tokenizer is copied when there is one)."""
    import gguf

    config = model.config
    arch = check_gguf_supported(config)
    writer = gguf.GGUFWriter(str(path), arch.name)
    _hyperparameters(writer, config, name, arch)
    writer.add_file_type(getattr(gguf.LlamaFileType, GGUF_DTYPES[dtype].file_type))
    add_tokenizer(writer, tokenizer, config.vocab_size, chat_template, source=source_gguf(source),
                  model_type=getattr(config, "model_type", ""), pre=pre_tokenizer)
    for gguf_name, array in _tensors(model, arch):
        data, qtype = _encode(array.numpy(), stored_type(gguf_name, dtype))
        writer.add_tensor(gguf_name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
