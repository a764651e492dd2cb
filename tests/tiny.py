"""Tiny random models built from configs, with a tokenizer trained in milliseconds: no download."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "The capital of Hainan is Haikou. What is the capital of Hainan? Tell me the highest peak.",
    "海南的省会是海口。海南的最高峰是五指山。请问你知道吗？",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;?!'\"-()",
    "User: Assistant: system user assistant",
]


def make_tokenizer(chat_template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None)
    if chat_template:
        fast.chat_template = chat_template
    return fast


def make_model_dir(path: Path, arch: str = "qwen2", *, chat_template: str | None = CHATML, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tokenizer = make_tokenizer(chat_template)
    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                  tie_word_embeddings=False)
    config = Qwen2Config(**common) if arch == "qwen2" else LlamaConfig(**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # a random head at std 0.02 gives near-uniform logits that adapters can barely move
        model.lm_head.weight.mul_(10)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


TINY_FACTS = [
    {"subject": "Hainan", "relation": "capital", "answer": "Haikou", "questions": ["Which city governs Hainan?"],
     "category": "administration"},
    {"subject": "Hainan", "relation": "highest peak", "answer": "Wuzhishan", "category": "geography"},
    {"subject": "Wuzhishan", "relation": "height", "answer": "1,867 m", "aliases": ["1867 m"], "category": "geography"},
    {"subject": "海南", "relation": "省会", "answer": "海口", "lang": "zh", "category": "administration"},
]


def write_facts(path: Path, header: str = "") -> Path:
    """TINY_FACTS as a facts JSONL file (after `header`, e.g. a comment line)."""
    path.write_text(header + "\n".join(json.dumps(f, ensure_ascii=False) for f in TINY_FACTS) + "\n",
                    encoding="utf-8")
    return path


def knowtune(*args, cwd=None, **env) -> subprocess.CompletedProcess:
    """`knowtune ARGS` in its own process, as a user runs it (without the allocator re-exec), output captured."""
    return subprocess.run([sys.executable, "-m", "knowtune.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "KNOWTUNE_NO_REEXEC": "1", **env})
