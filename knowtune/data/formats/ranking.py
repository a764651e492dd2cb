"""LLaMA-Factory's preference ("ranking") records -> conversations whose answer is the chosen reply,
with the rejected reply beside it (what the dpo, orpo and kto training stages read).

alpaca: {"instruction", "input", "chosen": str, "rejected": str} (plus system, history);
sharegpt: {"conversations": [... ending with a user turn], "chosen": {"from": "gpt", "value"},
"rejected": {"from": "gpt", "value"}}. Column and tag names may be renamed as for answers.
"""

from __future__ import annotations

import dataclasses

from ...config import KnowtuneError
from .conversations import Columns, Conversation, Tags, from_alpaca, from_sharegpt


@dataclasses.dataclass
class RankingColumns:
    chosen: str = "chosen"
    rejected: str = "rejected"


def ranking_from_alpaca(obj: dict, file: str, line: int, columns: Columns, ranking: RankingColumns) -> Conversation:
    conv = from_alpaca(obj, file, line, dataclasses.replace(columns, response=ranking.chosen))
    rejected = _text(obj.get(ranking.rejected), file, line, ranking.rejected)
    return dataclasses.replace(conv, rejected=rejected)


def ranking_from_sharegpt(obj: dict, file: str, line: int, columns: Columns, tags: Tags,
                          ranking: RankingColumns) -> Conversation:
    turns = obj.get(columns.messages)
    if not isinstance(turns, list) or not turns:
        raise KnowtuneError(f"must be a non-empty list of turns ending with a {tags.user_tag!r} turn",
                            file=file, line=line, field=columns.messages)
    chosen = _reply_turn(obj, ranking.chosen, tags, file, line)
    rejected = _reply_turn(obj, ranking.rejected, tags, file, line)
    conv = from_sharegpt({**obj, columns.messages: [*turns, chosen]}, file, line, columns, tags)
    return dataclasses.replace(conv, rejected=rejected[tags.content_tag].strip())


def _reply_turn(obj: dict, name: str, tags: Tags, file: str, line: int) -> dict:
    """A chosen or rejected reply: one assistant turn object."""
    turn = obj.get(name)
    if turn is None:
        raise KnowtuneError("missing required field", file=file, line=line, field=name)
    if not isinstance(turn, dict):
        raise KnowtuneError(f"must be a turn object {{{tags.role_tag!r}: {tags.assistant_tag!r}, "
                            f"{tags.content_tag!r}: text}}, got {type(turn).__name__}", file=file, line=line, field=name)
    if turn.get(tags.role_tag) != tags.assistant_tag:
        raise KnowtuneError(f"must be an {tags.assistant_tag!r} turn, got {turn.get(tags.role_tag)!r}",
                            file=file, line=line, field=f"{name}.{tags.role_tag}")
    _text(turn.get(tags.content_tag), file, line, f"{name}.{tags.content_tag}")
    return turn


def _text(value, file: str, line: int, name: str) -> str:
    if value is None:
        raise KnowtuneError("missing required field", file=file, line=line, field=name)
    if not isinstance(value, str) or not value.strip():
        raise KnowtuneError("must be a non-empty string", file=file, line=line, field=name)
    return value.strip()
