"""`knowtune chat`: a streaming REPL over the shared inference engine."""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import KnowtuneError
from ..data.hedge import HEDGE_BELOW


def chat_command(run: Path | None, model: str | None, messages: list[str] | None, max_new_tokens: int,
                 temperature: float, hedge_below: float = HEDGE_BELOW, fact_check: bool = True,
                 route: bool = True, rag: bool = False) -> None:
    from ..serve.engine import Engine, check_source

    check_source(run, model, rag)
    if not 0.0 <= hedge_below <= 1.0:
        raise KnowtuneError(f"a probability from 0 to 1, got {hedge_below}", field="--hedge-below")
    engine = Engine.from_run(run, route=route, rag=rag) if run is not None else Engine.from_model(model)
    engine.hedge_below = hedge_below
    if not fact_check:
        engine.grounding = None
    history: list[dict] = []

    def ask(text: str) -> None:
        history.append({"role": "user", "content": text})
        reply = []
        for piece in engine.stream(history, max_new_tokens=max_new_tokens, temperature=temperature):
            sys.stdout.write(piece)
            sys.stdout.flush()
            reply.append(piece)
        sys.stdout.write("\n")
        history.append({"role": "assistant", "content": "".join(reply).strip()})

    if messages:
        for text in messages:
            ask(text)
        return
    print(f"chatting with {engine.name} (/reset clears the history, /exit quits)")
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            history.clear()
            continue
        if text:
            sys.stdout.write("bot> ")
            ask(text)
