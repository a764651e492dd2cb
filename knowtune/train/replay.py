"""Self-distillation replay: the base model answers the bundled general prompts before it is
fine-tuned, and those answers are trained on beside the knowledge (see data/replay.py).

Greedy answers of a given base model are fixed, so they come from the answer cache
(models.answer_cache): only the first run on a model pays for the generation.
"""

from __future__ import annotations

from ..config import ANSWER_BATCH
from ..data import ChatPrompt
from ..data.replay import demonstration_turns, replay_sample, reply_before_next_turn, usable_reply
from ..models import generate_batch
from ..models.answer_cache import cached_answers, model_identity

REPLAY_TOKENS = 64  # long enough for a sentence or two; the reply is cut after its last full one


def replay_samples(model, tokenizer, plan: list[tuple[str, str]], *, system: str, bf16: bool,
                   progress=None) -> list[dict]:
    """The plan's (lang, prompt) pairs (data.replay.replay_plan) answered by `model` as it is now."""
    if not plan:
        return []
    unique = list(dict.fromkeys(plan))  # a plan longer than the bundled prompts repeats them: ask each once
    replies = dict(zip(unique, _cached_replies(model, tokenizer, unique, system, bf16, progress)))
    samples = []
    for lang_prompt in plan:
        kept = usable_reply(lang_prompt[1], replies[lang_prompt], system)
        if kept:
            samples.append(replay_sample(lang_prompt[1], kept))
    return samples


def _cached_replies(model, tokenizer, plan: list[tuple[str, str]], system: str, bf16: bool,
                    progress) -> list[str]:
    """The model's replies to the plan's prompts; those that are no answer (an echo, invented turns)
    asked again after three answered questions. Both from the answer cache where asked before."""
    identity, prompts = model_identity(model), [prompt for _, prompt in plan]
    was_training = model.training
    model.eval()
    replies = _answer(model, tokenizer, identity, [[] for _ in plan], prompts, system, bf16, progress)
    again = [i for i, (prompt, reply) in enumerate(zip(prompts, replies)) if not usable_reply(prompt, reply, system)]
    if again:
        retried = _answer(model, tokenizer, identity, [demonstration_turns(plan[i][0]) for i in again],
                          [prompts[i] for i in again], system, bf16, None)
        for i, reply in zip(again, retried):
            replies[i] = reply_before_next_turn(reply)
    model.train(was_training)
    return replies


def _answer(model, tokenizer, identity: str, earlier: list[list[dict]], prompts: list[str], system: str,
            bf16: bool, progress) -> list[str]:
    prompt = ChatPrompt(tokenizer, system)
    rendered = [prompt.render([*turns, {"role": "user", "content": p}]) for turns, p in zip(earlier, prompts)]

    def generate(asked: list[str]) -> list[str]:
        # whole replies: one that runs on into a turn of its own is asked again with demonstrations
        # (data.replay.usable_reply), which answer better than the first reply cut at the turn
        return generate_batch(model, tokenizer, asked, max_new_tokens=REPLAY_TOKENS, batch_size=ANSWER_BATCH, bf16=bf16,
                              progress=progress, cut_turns=False)

    return cached_answers(rendered, identity, {"bf16": bf16, "max_new_tokens": REPLAY_TOKENS}, generate,
                          progress)[0]
