"""An Ollama Modelfile beside the GGUF: FROM, TEMPLATE, SYSTEM and the stop tokens.

Ollama's TEMPLATE is a Go template, not the Jinja chat template transformers and llama.cpp
read, so it is derived from the Jinja one: the run's template is rendered on chats whose
contents are markers, and the text between the markers is each role's prefix and suffix.
A template that cannot be cut that way (one that folds the system message into the first user
turn, say) is refused rather than approximated: a wrong template is the usual cause of endless
or garbled replies after an export. The run's system prompt becomes SYSTEM, which Ollama, like
knowtune, replaces with a client's own system message.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import KnowtuneError

_S, _U1, _A1, _U2 = "\u27eaS\u27eb", "\u27eaU1\u27eb", "\u27eaA1\u27eb", "\u27eaU2\u27eb"


@dataclass(frozen=True)
class TurnText:
    """The literal text around each role's content, as the chat template writes it."""
    system_prefix: str
    system_suffix: str
    user_prefix: str
    user_suffix: str
    """After a user message: the end of its turn and the assistant's header (the generation prompt)."""
    assistant_prefix: str
    """What the template writes before an assistant's content beyond the generation prompt."""
    assistant_suffix: str

    def render(self, messages: list[dict]) -> str:
        """A chat as the Go template below writes it (what the tests compare with the Jinja one)."""
        text = ""
        for m in messages:
            before, after = {"system": (self.system_prefix, self.system_suffix),
                             "user": (self.user_prefix, self.user_suffix),
                             "assistant": (self.assistant_prefix, self.assistant_suffix)}[m["role"]]
            text += before + m["content"] + after
        return text


def _split(text: str, marks: list[str]) -> list[str]:
    parts = []
    for mark in marks:
        head, sep, text = text.partition(mark)
        if not sep:
            raise _refuse(f"its rendering leaves out the {mark} message")
        parts.append(head)
    return parts + [text]


def _refuse(why: str) -> KnowtuneError:
    return KnowtuneError(f"the chat template cannot be written as an Ollama TEMPLATE ({why}); "
                         "use --format gguf", field="--format")


def turn_text(tokenizer, template: str, *, adds_bos: bool = True) -> TurnText:
    """Cut the Jinja template into per-role text, checked on chats with and without a system message."""
    def render(messages):
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)

    user1, assistant1, user2 = ({"role": "user", "content": _U1}, {"role": "assistant", "content": _A1},
                                {"role": "user", "content": _U2})
    head, sys_to_user, user_to_assistant, assistant_to_user, generation = _split(
        render([{"role": "system", "content": _S}, user1, assistant1, user2]), [_S, _U1, _A1, _U2])
    user_head, *rest = _split(render([user1, assistant1, user2]), [_U1, _A1, _U2])
    if rest != [user_to_assistant, assistant_to_user, generation]:
        raise _refuse("the system message changes how later turns are written")
    bos = tokenizer.bos_token or ""
    if bos and adds_bos:  # the GGUF says BOS is added by llama.cpp and Ollama themselves
        head, user_head = head.removeprefix(bos), user_head.removeprefix(bos)
    if not (sys_to_user.endswith(user_head) and assistant_to_user.endswith(user_head)
            and user_to_assistant.startswith(generation)):
        raise _refuse("the turns do not repeat the same text around each message")
    cut = len(sys_to_user) - len(user_head)
    return TurnText(system_prefix=head, system_suffix=sys_to_user[:cut], user_prefix=user_head,
                    user_suffix=generation, assistant_prefix=user_to_assistant[len(generation):],
                    assistant_suffix=assistant_to_user[:len(assistant_to_user) - len(user_head)])


def go_template(turns: TurnText) -> str:
    """Ollama's TEMPLATE: .System first, then the user and assistant messages; no whitespace trimming,
    since `{{-` would also trim the literal newlines of the turns."""
    return ("{{ if .System }}" + turns.system_prefix + "{{ .System }}" + turns.system_suffix + "{{ end }}"
            "{{ range .Messages }}{{ if eq .Role \"user\" }}" + turns.user_prefix + "{{ .Content }}"
            + turns.user_suffix + "{{ else if eq .Role \"assistant\" }}" + turns.assistant_prefix
            + "{{ .Content }}" + turns.assistant_suffix + "{{ end }}{{ end }}")


def _quoted(text: str) -> str:
    if '"""' in text:
        raise _refuse('it contains """')
    return f'"""{text}"""'


def modelfile(gguf_name: str, tokenizer, template: str, system_prompt: str, stops: list[str], *,
              adds_bos: bool = True) -> str:
    turns = turn_text(tokenizer, template, adds_bos=adds_bos)
    lines = [f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(go_template(turns))}"]
    if system_prompt:
        lines.append(f"SYSTEM {_quoted(system_prompt)}")
    lines += [f"PARAMETER stop {_quoted(stop)}" for stop in stops]
    return "\n".join(lines) + "\n"
