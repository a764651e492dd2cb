"""Fold a run's adapter into its base weights and save a plain Hugging Face model directory.

The export needs no knowtune: `AutoModelForCausalLM.from_pretrained(dir)` loads it, and its
chat template already carries the run's system prompt, so a plain `apply_chat_template`
asks the model exactly as the run was trained and evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import KnowtuneError
from ..config.run import Run
from ..data import ChatPrompt
from ..methods import get_method, merge_trained, read_meta
from ..train.trained import load_run

EXPORT_FILE = "knowtune_export.json"
HF_DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class MergedRun:
    model: object
    tokenizer: object
    meta: dict
    system_prompt: str
    source: str
    """The base model's directory (for a preset, the cache it was converted into from its GGUF)."""


def merge_run(run: Run) -> MergedRun:
    """The run's model as one plain fp32 transformers model (base + what was trained)."""
    method = get_method(read_meta(run.adapter_dir)["method"])
    if not method.mergeable:
        merge_trained(None, method)  # raises its refusal before any weights are loaded
    system = run.system_prompt
    # the base is read in fp32 (training may have held it in bf16 autocast): the merge
    # W + BA is then done at full precision, and only the saved copy is cast.
    loaded, meta = load_run(run)
    model = merge_trained(loaded.model, get_method(meta["method"]))
    model.eval()
    return MergedRun(model=model, tokenizer=loaded.tokenizer, meta=meta, system_prompt=system,
                     source=loaded.source)


def template_with_system(template: str, system: str) -> str:
    """`template` with `system` as the default system message (what data.prompt.ChatPrompt does).

    A Jinja prelude rebinds `messages` before the original template runs; chats that bring their
    own system message keep it. A prelude rather than an edit of the template works for any
    template, and leaves the original text untouched after it.
    """
    if not system:
        return template
    literal = json.dumps(system, ensure_ascii=False)  # a JSON string is also a Jinja string literal
    prelude = ("{%- if not messages or messages[0]['role'] != 'system' -%}"
               f"{{%- set messages = [{{'role': 'system', 'content': {literal}}}] + messages -%}}"
               "{%- endif -%}")
    return prelude + template


CHECK_CHAT = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."},
              {"role": "user", "content": "Q2?"}]


def _check_template(tokenizer, expected: str) -> None:
    """The new template renders a bare chat exactly as the run's own prompting (`expected`) does."""
    got = ChatPrompt(tokenizer).render(CHECK_CHAT)
    if got != expected:
        raise KnowtuneError("could not put the system prompt into the chat template (it renders differently)",
                            field="system_prompt")


def export_info(merged: MergedRun, run: Path, fmt: str, dtype: str, files: list[str]) -> dict:
    return {"run": str(run), "base_model": merged.meta["base_model"], "method": merged.meta["method"],
            "format": fmt, "dtype": dtype, "system_prompt": merged.system_prompt, "files": files,
            "note": "the chat template already adds system_prompt when a chat brings no system message"}


def save_hf(merged: MergedRun, out: Path, dtype: str) -> None:
    """Safetensors + tokenizer (template with the run's system prompt) + generation config."""
    import torch

    tokenizer = merged.tokenizer
    original = tokenizer.chat_template
    expected = ChatPrompt(tokenizer, merged.system_prompt).render(CHECK_CHAT)  # with the original template
    tokenizer.chat_template = template_with_system(original, merged.system_prompt)
    _check_template(tokenizer, expected)
    model = merged.model.to(getattr(torch, dtype))
    model.config.dtype = getattr(torch, dtype)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    tokenizer.chat_template = original
    model.to(torch.float32)  # callers go on with the fp32 merge (e.g. to check it)
