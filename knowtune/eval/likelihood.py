"""How likely a model finds a given answer: teacher-forced token log-probabilities.

The answer is scored as the assistant turn of the chat (system prompt + question), the
same tokens the training loss counts: the answer text and the template's end-of-turn
marker. Perplexity of a set = exp(mean negative log-likelihood per answer token over all
answers), so it is directly comparable with exp(training loss).
"""

from __future__ import annotations

import math

from ..data import IGNORE, ChatPrompt, pad_batch
from ..models.generate import bf16_compute, contiguous_head_input


def answer_logprobs(model, tokenizer, chats: list[tuple[str, str]], *, system: str | None = None,
                    batch_size: int = 8, max_len: int = 1024, bf16: bool = False) -> list[list[float]]:
    """Per-token log-probabilities of each (question, answer) pair's answer tokens (bf16: computed
    under bf16 autocast, as answers are generated where bf16 is fast)."""
    prompt = ChatPrompt(tokenizer, system)
    encoded = [prompt.encode([{"role": "user", "content": q}, {"role": "assistant", "content": a}], max_len)
               for q, a in chats]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    out: list[list[float]] = []
    with bf16_compute(model, bf16):  # the weights cast to bf16 once for all the batches
        for start in range(0, len(encoded), batch_size):
            _score_batch(model, encoded[start:start + batch_size], pad_id, device, out)
    return out


def _score_batch(model, encoded: list[dict], pad_id: int, device, out: list[list[float]]) -> None:
    """Appends to `out` each encoded pair's answer-token log-probabilities."""
    import torch

    batch = {k: v.to(device) for k, v in pad_batch(encoded, pad_id).items()}
    labels = batch.pop("labels")
    keep = _positions_to_keep(labels)
    # the kept positions are a strided view: the head must get them contiguous (contiguous_head_input)
    with torch.inference_mode(), contiguous_head_input(model):
        logits = model(**batch, logits_to_keep=keep).logits[:, :-1]
    targets = labels[:, labels.shape[1] - keep + 1:]
    for row in range(targets.shape[0]):
        answer = targets[row] != IGNORE
        # log_softmax only over the answer positions: the full logits of a large vocabulary are big
        logp = torch.log_softmax(logits[row][answer].float(), dim=-1)
        out.append(logp.gather(1, targets[row][answer].unsqueeze(1)).squeeze(1).tolist())


def _positions_to_keep(labels) -> int:
    """How many last positions' logits the answers need: from the one before the batch's earliest
    answer token. The head's logits over a large vocabulary (Gemma-3: 262k) cost more than the rest
    of a small model's forward pass; the prompts' positions need none of them."""
    answer = (labels != IGNORE).any(dim=0).nonzero()
    first = int(answer[0]) if len(answer) else labels.shape[1] - 1
    return labels.shape[1] - max(first - 1, 0)


def perplexity(logprobs: list[list[float]]) -> float | None:
    tokens = sum(len(lp) for lp in logprobs)
    if tokens == 0:
        return None
    return math.exp(-sum(sum(lp) for lp in logprobs) / tokens)


def mean_probability(logprobs: list[float]) -> float | None:
    """Mean token probability of one answer: how sure the model is of its own words."""
    return sum(math.exp(x) for x in logprobs) / len(logprobs) if logprobs else None
