"""Token lengths of a built dataset (with the chat template) and the --max-len policy."""

from __future__ import annotations

from .build import BuiltDataset
from .prompt import encode_chat

NO_LIMIT = 10**9


def sample_tokens(tokenizer, messages: list[dict]) -> int:
    return len(encode_chat(tokenizer, messages, NO_LIMIT)["input_ids"])


def text_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def apply_max_len(built: BuiltDataset, tokenizer, max_len: int, mode: str = "drop") -> dict:
    """Drop (or truncate the last answer of) training samples longer than max_len tokens, and
    pre-training texts likewise; returns what was done, also recorded in the stats."""
    if mode not in ("drop", "truncate"):
        raise ValueError(f"over-long mode must be drop or truncate, got {mode!r}")
    kept, dropped, truncated = [], 0, 0
    for sample in built.train:
        over = sample_tokens(tokenizer, sample["messages"]) - max_len
        if over <= 0:
            kept.append(sample)
            continue
        shorter = _truncate_answer(tokenizer, sample, over) if mode == "truncate" else None
        if shorter is None:
            dropped += 1
        else:
            kept.append(shorter)
            truncated += 1
    built.train = kept
    texts = []
    for item in built.pretrain:
        ids = tokenizer(item["text"], add_special_tokens=False)["input_ids"]
        if len(ids) <= max_len:
            texts.append(item)
        elif mode == "truncate":
            texts.append(dict(item, text=tokenizer.decode(ids[:max_len])))
            truncated += 1
        else:
            dropped += 1
    built.pretrain = texts
    result = {"max_len": max_len, "over_long_dropped": dropped, "over_long_truncated": truncated}
    built.stats.update(result, train_samples=len(built.train), pretrain_texts=len(built.pretrain))
    return result


def _truncate_answer(tokenizer, sample: dict, over: int) -> dict | None:
    """Cut `over` tokens (and a few more, as re-tokenizing may merge differently) off the last answer."""
    answer = sample["messages"][-1]["content"]
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    for extra in (0, 2, 8):
        keep = len(ids) - over - extra
        if keep <= 0:
            return None
        messages = sample["messages"][:-1] + [{"role": "assistant", "content": tokenizer.decode(ids[:keep]).strip()}]
        if sample_tokens(tokenizer, messages) - sample_tokens(tokenizer, sample["messages"]) <= -over:
            return dict(sample, messages=messages)
    return None


def add_token_stats(built: BuiltDataset, tokenizer) -> None:
    lengths = [sample_tokens(tokenizer, s["messages"]) for s in built.train]
    built.stats["train_tokens"] = sum(lengths)
    built.stats["longest_sample_tokens"] = max(lengths, default=0)
    built.stats["heldout_tokens"] = sum(text_tokens(tokenizer, q["question"]) for q in built.heldout)
    if built.pretrain:
        built.stats["pretrain_tokens"] = sum(text_tokens(tokenizer, t["text"]) for t in built.pretrain)
