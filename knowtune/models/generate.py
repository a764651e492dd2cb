"""Generation shared by evaluation, replay, chat, the API and the web UI.

Prompts come rendered (data.prompt.ChatPrompt: the one renderer, shared with training).

Batches are left-padded and sorted by prompt length; decoding is greedy (models.greedy: finished
rows leave the batch) unless a temperature is given; every row stops at EOS or the chat format's
end-of-turn token. Adapters are merged into the weights while a model generates (models.merged).
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from typing import Iterator

from .allocator import mapping_allowed
from .greedy import chosen_logprobs, greedy_decode
from .load import stop_token_ids
from .merged import adapters_merged
from .turn_stops import cut_at_stop, first_stop, turn_stops

MIN_TEMPERATURE = 1e-2
"""Below this, sampling is greedy decoding: its limit as the temperature goes to 0, and
dividing logits by a tinier number overflows them to inf and the probabilities to NaN."""


def sampling_args(temperature: float, top_p: float) -> dict:
    if temperature >= MIN_TEMPERATURE:
        return dict(do_sample=True, temperature=temperature, top_p=top_p)
    return dict(do_sample=False, temperature=None, top_p=None, top_k=None)


@contextlib.contextmanager
def bf16_compute(model, bf16: bool):
    """Inside, where `bf16`: bf16 autocast, with every float32 Linear weight (and bias) held as a bf16
    copy; outside, the model's own tensors as they were. Else nothing.

    Why the copies: autocast casts a weight that does not require grad afresh at every call (its
    cast cache keeps only trainable leaves), so an fp32 model answering under autocast cast all
    its weights to bf16 once per generated token: a fifth of the answering time. Cast once here,
    the arithmetic is autocast's own (the same rounding of the same weights, the same kernels),
    so the replies are too. A tied output layer gets a copy of its own (the embedding stays fp32,
    as autocast leaves it). Costs half the Linear weights' fp32 memory while inside.
    """
    import torch

    if not bf16:
        yield
        return
    device = next(model.parameters()).device.type
    swapped = []
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                for name in ("weight", "bias"):
                    tensor = module._parameters.get(name)
                    if tensor is not None and tensor.dtype == torch.float32:
                        swapped.append((module, name, tensor))
                        setattr(module, name, torch.nn.Parameter(tensor.detach().to(torch.bfloat16),
                                                                 requires_grad=False))
    try:
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            yield
    finally:
        for module, name, tensor in swapped:
            setattr(module, name, tensor)


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
    """Everything generation runs inside: no autograd, the allocator, the head fix, the adapters merged,
    then the compute dtype (bf16 copies of the merged weights)."""
    import torch

    stack = contextlib.ExitStack()
    for ctx in (torch.inference_mode(), mapping_allowed(), contiguous_head_input(model), adapters_merged(model),
                bf16_compute(model, bf16)):
        stack.enter_context(ctx)
    return stack


@dataclass(frozen=True)
class Scored:
    """A reply and the model's confidence in it: the geometric mean probability of its tokens
    (end-of-turn included) as greedy decoding chose them; None when sampled."""

    text: str
    confidence: float | None


def _chosen_logprob_recorder(steps: list):
    """A logits processor that keeps, per step, the log-probability of the token greedy decoding
    takes (the largest), without changing the scores. transformers can return every step's full
    scores (output_scores), but for a 49k-262k vocabulary that holds tens of MB per batch to use one
    number per row."""
    from transformers import LogitsProcessor

    class ChosenLogprob(LogitsProcessor):
        def __call__(self, input_ids, scores):
            steps.append(chosen_logprobs(scores))
            return scores

    return ChosenLogprob()


def _confidences(steps: list, new_tokens, stops: list[int]) -> list[float]:
    """Each row's geometric mean token probability, over its tokens up to its first stop token."""
    import torch

    logprobs = torch.stack(steps, dim=1)[:, :new_tokens.shape[1]]
    is_stop = torch.isin(new_tokens, torch.tensor(stops, device=new_tokens.device))
    # a position counts until (and including) the row's first stop token; pads come after it
    before_stop = (is_stop.cumsum(dim=1) - is_stop.long()) == 0
    counted = before_stop.float()
    means = (logprobs * counted).sum(dim=1) / counted.sum(dim=1).clamp(min=1)
    return means.exp().tolist()


def generate_scored(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 48,
                    batch_size: int = 16, bf16: bool = False, temperature: float = 0.0,
                    top_p: float = 1.0, progress=None, score: bool = True, cut_turns: bool = True) -> list[Scored]:
    """Completions of already-rendered prompts, in input order, with the model's confidence in each
    (greedy decoding only: a sampled token is not the one the recorded probability belongs to;
    `score=False` leaves it out for callers that only want the text). Each ends where the model
    starts a turn of its own (models.turn_stops) unless `cut_turns` is False."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: dict[int, Scored] = {}
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        with _generating(model, bf16):  # entered once: adapters are merged once for all the batches
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
                texts = [turn_stops(tokenizer, prompts[i]) if cut_turns else () for i in chunk]
                for i, scored in zip(chunk, _decode(model, tokenizer, enc, max_new_tokens, temperature, top_p, score,
                                                    texts)):
                    replies[i] = scored
                if progress is not None:
                    progress(len(chunk))
    finally:
        tokenizer.padding_side = old_side
    return [replies[i] for i in range(len(prompts))]


def _decode(model, tokenizer, enc, max_new_tokens: int, temperature: float, top_p: float,
            score: bool, stop_texts: list[tuple[str, ...]]) -> list[Scored]:
    """One left-padded batch's replies: greedy (finished rows leave) or sampled by transformers;
    each cut before its row's first stop text (models.turn_stops)."""
    stops = stop_token_ids(tokenizer)

    def text(tokens: list[int]) -> str:
        return tokenizer.decode(tokens, skip_special_tokens=True)

    def ended(row: int, tokens: list[int]) -> bool:
        return bool(stop_texts[row]) and first_stop(text(tokens), stop_texts[row]) is not None

    if temperature < MIN_TEMPERATURE:
        rows = greedy_decode(model, enc["input_ids"], enc["attention_mask"], max_new_tokens=max_new_tokens,
                             stops=stops, ended=ended if any(stop_texts) else None)
        decoded = [(r.tokens, math.exp(r.mean_logprob) if score else None) for r in rows]
    else:
        out = model.generate(**enc, max_new_tokens=max_new_tokens, eos_token_id=stops,
                             pad_token_id=tokenizer.pad_token_id, **sampling_args(temperature, top_p))
        decoded = [(row.tolist(), None) for row in out[:, enc["input_ids"].shape[1]:]]
    return [Scored(cut_at_stop(text(tokens), cuts).strip(), c) for (tokens, c), cuts in zip(decoded, stop_texts)]


def generate_batch(model, tokenizer, prompts: list[str], **kwargs) -> list[str]:
    """Completions of already-rendered prompts, in input order (generate_scored's keywords, unscored)."""
    return [reply.text for reply in generate_scored(model, tokenizer, prompts, score=False, **kwargs)]


@dataclass
class GenerationStats:
    """What one streamed generation cost and why it ended (filled in when the stream ends)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    """"stop" (an end-of-turn token), "length" (max_new_tokens reached), None (cancelled)."""
    confidence: float | None = None
    """The reply's geometric mean token probability (Scored.confidence); None when sampled."""


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
    from transformers import LogitsProcessorList, TextIteratorStreamer

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
    steps: list = []
    recorder = LogitsProcessorList([_chosen_logprob_recorder(steps)] if temperature < MIN_TEMPERATURE else [])

    def work():
        try:
            with _generating(model, bf16):
                out = model.generate(**enc, max_new_tokens=max_new_tokens, streamer=streamer,
                                     eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
                                     stopping_criteria=_cancel_criteria(cancel), logits_processor=recorder,
                                     **sampling)
            new = out[0, prompt_len:].tolist()
            if steps:  # of the tokens generated, even when the caller left early
                stats.confidence = _confidences(steps, out[:, prompt_len:], stops)[0]
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
