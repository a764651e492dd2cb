"""Where a reply ends when the chat format has no end-of-turn token of its own.

A model asked in the default plain template (models.chat_template: "User: …\\nAssistant: …") ends
its turn with EOS only if it was trained to. A base model (Gemma-3-270M base, or any run's base
model answering a routed question) often runs on past its answer into a conversation of its own:
"…？\\n\\nYou are a helpful assistant.\\n\\nUser: …\\nAssistant: …" until the token budget is spent.
Its reply ends where it starts a user turn or writes the prompt's system text again, as a
llama.cpp chat with a reverse prompt ends. Templates with turn tokens end a turn with a special
token (load.stop_token_ids) and get no stop text.
"""

from __future__ import annotations

from .chat_template import DEFAULT_CHAT_TEMPLATE

PLAIN_USER_TURN = "\nUser:"
"""What starts a new user turn in the plain template's text."""


def turn_stops(tokenizer, prompt: str) -> tuple[str, ...]:
    """The stop text of a reply to `prompt` (rendered): for the plain template, the start of a user
    turn and the prompt's system text; none for other templates."""
    if getattr(tokenizer, "chat_template", None) != DEFAULT_CHAT_TEMPLATE:
        return ()
    head = prompt.split("User:", 1)[0] if "User:" in prompt else ""
    system = head.removeprefix(tokenizer.bos_token or "").strip()
    return (PLAIN_USER_TURN, system) if system else (PLAIN_USER_TURN,)


def first_stop(text: str, stops) -> int | None:
    """Where the stop string that ends earliest in `text` starts (the longer one on a tie)."""
    ends = [(at + len(stop), at) for stop in stops if stop and (at := text.find(stop)) >= 0]
    return min(ends)[1] if ends else None


def cut_at_stop(text: str, stops) -> str:
    """`text` up to its first stop string (all of it when none occurs)."""
    cut = first_stop(text, stops)
    return text if cut is None else text[:cut]
