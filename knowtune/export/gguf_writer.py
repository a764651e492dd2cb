"""Write a merged Llama-architecture model as a GGUF file, laid out as llama.cpp expects.

Tensor names come from gguf's own name map; the q/k projections are re-ordered to the
interleaved rotary layout llama.cpp uses (transformers' GGUF loader undoes this on load).
Norms and other 1-D tensors stay f32, as llama.cpp's own converter keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import KnowtuneError

GGUF_TYPES = ("float32", "float16", "bfloat16", "q8_0")
SUPPORTED = {"LlamaForCausalLM": "llama"}


def _rows_of_heads(weight, n_heads: int):
    """HF keeps the two rotary halves of each head apart; llama.cpp interleaves them."""
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def check_gguf_supported(config) -> str:
    arch = (config.architectures or ["?"])[0]
    if arch not in SUPPORTED:
        raise KnowtuneError(f"GGUF export supports {', '.join(SUPPORTED)} only, not {arch}; "
                            "use --format hf", field="--format")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default" or getattr(config, "attention_bias", False) \
            or getattr(config, "mlp_bias", False):
        raise KnowtuneError("GGUF export supports plain Llama models only (no rope scaling, no biases); "
                            "use --format hf", field="--format")
    return SUPPORTED[arch]


def _hyperparameters(writer, config, name: str) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = getattr(config, "rope_parameters", None) or {}
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    if head_dim * config.num_attention_heads != config.hidden_size:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)


def source_pre_tokenizer(model_dir: str | Path) -> str:
    """The pre-tokenizer name llama.cpp gave the GGUF this base was converted from, if any.

    llama.cpp names a BPE pre-tokenizer (its split regex) by fingerprinting the tokenizer
    against its own table; a base knowtune converted from a GGUF (the presets) already carries
    that name, so it is copied. Otherwise "default" (llama.cpp's generic byte-level split).
    """
    import gguf

    source = Path(model_dir) / "knowtune_source.json"
    if source.is_file():
        gguf_path = Path(json.loads(source.read_text())["gguf"])
        if gguf_path.is_file():
            field = gguf.GGUFReader(gguf_path).fields.get("tokenizer.ggml.pre")
            if field is not None:
                return field.contents()
    return "default"


def _tokenizer(writer, tokenizer, vocab_size: int, chat_template: str, pre: str) -> None:
    """A byte-level BPE tokenizer as GGUF's "gpt2" model: tokens, types, merges, specials."""
    import gguf

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if state["model"]["type"] != "BPE":
        raise KnowtuneError(f"GGUF export supports BPE tokenizers only, not {state['model']['type']}",
                            field="--format")
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    special = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    added = {t.content for t in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:  # the embedding matrix may be padded past the tokenizer
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(token)
        types.append(gguf.TokenType.CONTROL if token in special else
                     gguf.TokenType.USER_DEFINED if token in added else gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in ((writer.add_bos_token_id, tokenizer.bos_token_id),
                             (writer.add_eos_token_id, tokenizer.eos_token_id),
                             (writer.add_pad_token_id, tokenizer.pad_token_id),
                             (writer.add_unk_token_id, tokenizer.unk_token_id)):
        if token_id is not None:
            setter(int(token_id))
    writer.add_add_bos_token(tokenizer.bos_token_id is not None and bool(getattr(tokenizer, "add_bos_token", False)))
    writer.add_chat_template(chat_template)


def _encode(array, dtype: str):
    """(data, raw quant type or None) for one tensor; 1-D tensors and odd rows stay exact."""
    import gguf
    import numpy as np

    if array.ndim == 1 or dtype == "float32":
        return array.astype(np.float32), None
    if dtype == "float16":
        return array.astype(np.float16), None
    qtype = gguf.GGMLQuantizationType.BF16 if dtype == "bfloat16" else gguf.GGMLQuantizationType.Q8_0
    if array.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:  # q8_0 works on blocks of 32 values per row
        return array.astype(np.float16), None
    return gguf.quants.quantize(array.astype(np.float32), qtype), qtype


FILE_TYPES = {"float32": "ALL_F32", "float16": "MOSTLY_F16", "bfloat16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0"}


def write_gguf(model, tokenizer, path: Path, *, dtype: str, name: str, chat_template: str,
               pre_tokenizer: str = "default") -> None:
    import gguf

    config = model.config
    arch = check_gguf_supported(config)
    writer = gguf.GGUFWriter(str(path), arch)
    _hyperparameters(writer, config, name)
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[dtype]))
    _tokenizer(writer, tokenizer, config.vocab_size, chat_template, pre_tokenizer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when there is no output tensor
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise KnowtuneError(f"no GGUF name for tensor {hf_name!r}", field="--format")
        array = tensor.detach().to("cpu").float()
        if hf_name.endswith("q_proj.weight"):
            array = _rows_of_heads(array, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            array = _rows_of_heads(array, config.num_key_value_heads)
        data, qtype = _encode(array.numpy(), dtype)
        writer.add_tensor(gguf_name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
