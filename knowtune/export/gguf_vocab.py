"""The tokenizer part of a GGUF file: copied from the GGUF a base came from, or written from a BPE.

A preset base was converted from a GGUF by transformers; fine-tuning leaves its tokenizer
untouched, so the source file's `tokenizer.ggml.*` fields, which llama.cpp itself wrote, are
the most faithful vocabulary (SentencePiece scores for Gemma, the named pre-tokenizer for
SmolLM2). Any other base needs a byte-level BPE tokenizer (Llama-3, SmolLM2, Qwen2 style),
written as GGUF's "gpt2" model. In both cases the special ids follow the tokenizer knowtune
trained with, since its eos is what the chat template ends a turn with: the stop token.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import KnowtuneError
from ..models.load import source_gguf
from .gguf_meta import read_metadata

# llama.cpp's pre-tokenizer for a model type whose tokenizer is always the same (its converter
# recognises Qwen2's by a fingerprint and names it so).
PRE_BY_MODEL_TYPE = {"qwen2": "qwen2"}
_IDS = ("bos", "eos", "padding", "unknown")  # tokenizer.ggml.<name>_token_id


def source_pre_tokenizer(model_dir: str | Path | None) -> str:
    """The pre-tokenizer name llama.cpp gave the GGUF this base was converted from, or "default"."""
    path = source_gguf(model_dir)
    field = read_metadata(path).get("tokenizer.ggml.pre") if path else None
    return field.value if field is not None else "default"


def adds_bos(tokenizer, model_dir: str | Path | None) -> bool:
    """Whether llama.cpp will put BOS before a prompt: the flag the GGUF gets (copied or from the tokenizer)."""
    path = source_gguf(model_dir)
    field = read_metadata(path).get("tokenizer.ggml.add_bos_token") if path else None
    if field is not None:
        return bool(field.value)
    return tokenizer.bos_token_id is not None and bool(getattr(tokenizer, "add_bos_token", False))


def add_tokenizer(writer, tokenizer, vocab_size: int, chat_template: str, *, source: Path | None,
                  model_type: str = "", pre: str | None = None) -> None:
    """Vocabulary, special ids, add-bos flag and chat template."""
    if source is not None:
        copied = _copy_tokenizer_fields(writer, source, vocab_size)
    else:
        _bpe_tokenizer(writer, tokenizer, vocab_size, pre or PRE_BY_MODEL_TYPE.get(model_type, "default"))
        copied = set()
    for setter, token_id in ((writer.add_bos_token_id, tokenizer.bos_token_id),
                             (writer.add_eos_token_id, tokenizer.eos_token_id),
                             (writer.add_pad_token_id, tokenizer.pad_token_id),
                             (writer.add_unk_token_id, tokenizer.unk_token_id)):
        if token_id is not None:
            setter(int(token_id))
    if "tokenizer.ggml.add_bos_token" not in copied:
        writer.add_add_bos_token(tokenizer.bos_token_id is not None and bool(getattr(tokenizer, "add_bos_token", False)))
    writer.add_chat_template(chat_template)


def _copy_tokenizer_fields(writer, source: Path, vocab_size: int) -> set[str]:
    """Every `tokenizer.ggml.*` field of `source` but the special ids and the chat template."""
    fields = read_metadata(source)
    tokens = fields.get("tokenizer.ggml.tokens")
    if tokens is None or len(tokens.value) != vocab_size:
        raise KnowtuneError(f"the tokenizer of {source} does not match the model's {vocab_size} tokens; "
                            "use --format hf", field="--format")
    skip = {f"tokenizer.ggml.{name}_token_id" for name in _IDS} | {"tokenizer.chat_template"}
    copied = set()
    for name, field in fields.items():
        if not name.startswith("tokenizer.ggml.") or name in skip:
            continue
        writer.add_key_value(name, field.value, field.vtype, sub_type=field.sub_type)
        copied.add(name)
    return copied


def _bpe_tokenizer(writer, tokenizer, vocab_size: int, pre: str) -> None:
    """A byte-level BPE tokenizer as GGUF's "gpt2" model: tokens, types, merges."""
    import gguf

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if state["model"]["type"] != "BPE":
        raise KnowtuneError(f"GGUF export supports BPE tokenizers only, not {state['model']['type']}, "
                            "unless the base came from a GGUF file; use --format hf", field="--format")
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
