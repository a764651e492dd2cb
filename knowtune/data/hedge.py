"""Say so when unsure: a reply the model gave with low confidence carries a hedge.

A model fine-tuned on a knowledge base answers a question outside it with the nearest fact it
holds, fluently ("the phone number of the museum?" -> "the number of employees of the museum is
340"). Refusal samples in training teach the form of "I don't know" but a 135M model does not
learn where its knowledge ends from them. Its own token probabilities do tell, in part: on the
bundled sets' dev halves its greedy replies to questions it cannot answer are less sure than its
replies to answerable ones (area under the ROC curve 0.81-0.86). Below the threshold the reply is
kept, with a note that it may be wrong: a hedged right answer is still right, and the user knows
which answers to check (selective prediction, as in "Language Models (Mostly) Know What They
Know", Kadavath et al. 2022, with the sequence probability as the signal). A reply about the
knowledge base that none of its facts grounds (data.grounding) carries its own note instead.
"""

from __future__ import annotations

from ..config import HEDGE_BELOW
from .facts import guess_lang
from .grounding import ungrounded_note

__all__ = ["HEDGE_BELOW", "HEDGE_NOTES", "hedge_note", "hedged", "needs_hedge", "note_for"]

HEDGE_NOTES = {"en": " (I think so, but I may be wrong.)", "zh": "（我认为如此，但可能有误。）"}
"""What a hedged reply ends with; eval.refusal counts it a hedge, not a refusal, and adds no answer."""


def needs_hedge(confidence: float | None, threshold: float = HEDGE_BELOW) -> bool:
    """Whether a reply given with this confidence is hedged (never for an unscored, sampled reply)."""
    return confidence is not None and confidence < threshold


def hedge_note(reply: str) -> str:
    """The note for a reply, in the reply's language."""
    return HEDGE_NOTES.get(guess_lang(reply), HEDGE_NOTES["en"])


def note_for(reply: str, confidence: float | None, threshold: float = HEDGE_BELOW, *,
             ungrounded: bool = False) -> str:
    """What a reply ends with: nothing for an empty reply, the grounding note where no fact grounds
    it (`ungrounded`, data.grounding), else the hedge note where its confidence is below the
    threshold, else nothing. Eval and the serving engine both add it."""
    if not reply.strip():
        return ""
    if ungrounded:
        return ungrounded_note(reply)
    return hedge_note(reply) if needs_hedge(confidence, threshold) else ""


def hedged(reply: str, confidence: float | None, threshold: float = HEDGE_BELOW, *, ungrounded: bool = False) -> str:
    """The reply with its note (note_for)."""
    return reply + note_for(reply, confidence, threshold, ungrounded=ungrounded)
