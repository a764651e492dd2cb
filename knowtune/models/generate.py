"""Generation shared by evaluation, replay, chat, the API and the web UI.

Prompts come rendered (data.prompt.ChatPrompt: the one renderer, shared with training).

Batches are left-padded and sorted by prompt length; decoding is greedy unless a
temperature is given; every batch stops at EOS or the chat format's end-of-turn token.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

from .allocator import mapping_allowed
from .load import stop_token_ids

MIN_TEMPERATURE = 1e-2
"""Below this, sampling is greedy decoding: its limit as the temperature goes to 0, and
dividing logits by a tinier number overflows them to inf and the probabilities to NaN."""


def sampling_args(temperature: float, top_p: float) -> dict:
    if temperature >= MIN_TEMPERATURE:
        return dict(do_sample=True, temperature=temperature, top_p=top_p)
    return dict(do_sample=False, temperature=None, top_p=None, top_k=None)


def _autocast(model, bf16: bool):
    import torch

    if not bf16:
        return contextlib.nullcontext()
    device = next(model.parameters()).device.type
    return torch.autocast(device_type=device, dtype=torch.bfloat16)


@contextlib.contextmanager
def contiguous_head_input(model):
    """Feed the output layer a contiguous tensor while inside.

    At the first decoding step transformers slices the last position out of the prompt's
    hidden states (a strided view). With a frozen output weight (any adapter run), torch's
    matmul then runs a batched matmul over the weight expanded and copied once per
    sequence: for Gemma-3's 262k vocabulary at batch 32 that is 10.7 GB copied and about
    20 s per batch, where the contiguous input takes milliseconds.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield
        return
    handle = head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def _generating(model, bf16: bool):
    """Everything generation runs inside: no autograd, the compute dtype, the allocator, the head fix."""
    import torch

    stack = contextlib.ExitStack()
    for ctx in (torch.inference_mode(), _autocast(model, bf16), mapping_allowed(), contiguous_head_input(model)):
        stack.enter_context(ctx)
    return stack


def generate_batch(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 48,
                   batch_size: int = 16, bf16: bool = False, temperature: float = 0.0,
                   top_p: float = 1.0, progress=None) -> list[str]:
    """Completions of already-rendered prompts, in input order."""
    import torch

    stops = stop_token_ids(tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: dict[int, str] = {}
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            sampling = sampling_args(temperature, top_p)
            with _generating(model, bf16):
                out = model.generate(**enc, max_new_tokens=max_new_tokens, eos_token_id=stops,
                                     pad_token_id=tokenizer.pad_token_id, **sampling)
            new = out[:, enc["input_ids"].shape[1]:]
            for i, row in zip(chunk, new):
                replies[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
            if progress is not None:
                progress(len(chunk))
    finally:
        tokenizer.padding_side = old_side
    return [replies[i] for i in range(len(prompts))]


@dataclass
class GenerationStats:
    """What one streamed generation cost and why it ended (filled in when the stream ends)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    """"stop" (an end-of-turn token), "length" (max_new_tokens reached), None (cancelled)."""


def _cancel_criteria(cancel: threading.Event):
    """A stopping criterion that ends generation at the next token once `cancel` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


def stream_generate(model, tokenizer, prompt: str, *, max_new_tokens: int = 256, bf16: bool = False,
                    temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
                    stats: GenerationStats | None = None) -> Iterator[str]:
    """Yield pieces of text as they are generated (generation runs in a worker thread).

    Closing the iterator early stops the model at its next token and waits for it, so a
    caller that holds a lock around this never leaves a generation running behind it.
    """
    import torch
    from transformers import TextIteratorStreamer

    if seed is not None:
        torch.manual_seed(seed)
    stats = stats if stats is not None else GenerationStats()
    device = next(model.parameters()).device
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(device)
    prompt_len = enc["input_ids"].shape[1]
    stats.prompt_tokens = prompt_len
    stops = stop_token_ids(tokenizer)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    sampling = sampling_args(temperature, top_p)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def work():
        try:
            with _generating(model, bf16):
                out = model.generate(**enc, max_new_tokens=max_new_tokens, streamer=streamer,
                                     eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
                                     stopping_criteria=_cancel_criteria(cancel), **sampling)
            new = out[0, prompt_len:].tolist()
            stats.completion_tokens = len(new)
            if new and new[-1] in stops:
                stats.finish_reason = "stop"
            elif len(new) >= max_new_tokens:
                stats.finish_reason = "length"
        except BaseException as err:  # surfaced to the caller below
            errors.append(err)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield from streamer
    finally:
        cancel.set()
        thread.join()
    if errors:
        raise errors[0]
