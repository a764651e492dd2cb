"""QA records -> chat messages: alpaca, sharegpt (and its OpenAI `messages` variant), plain QA tables.

Column and tag names default to LLaMA-Factory's; a dataset_info.json entry may rename them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...config import KnowtuneError


@dataclass
class Conversation:
    messages: list[dict]
    """{role, content} turns ending with the assistant."""
    file: str
    line: int
    rejected: str | None = None
    """A preference record's rejected reply (the answer above is the chosen one)."""

    @property
    def single_turn(self) -> bool:
        return [m["role"] for m in self.messages if m["role"] != "system"] == ["user", "assistant"]

    @property
    def question(self) -> str:
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]


@dataclass
class Columns:
    """Which record fields hold what (LLaMA-Factory's `columns`)."""
    prompt: str = "instruction"
    query: str = "input"
    response: str = "output"
    history: str | None = None
    system: str | None = None
    messages: str = "conversations"


@dataclass
class Tags:
    """How sharegpt turns name their role and text (LLaMA-Factory's `tags`)."""
    role_tag: str = "from"
    content_tag: str = "value"
    user_tag: str = "human"
    assistant_tag: str = "gpt"
    observation_tag: str = "observation"
    function_tag: str = "function_call"
    system_tag: str = "system"


OPENAI_TAGS = Tags(role_tag="role", content_tag="content", user_tag="user", assistant_tag="assistant",
                   observation_tag="tool", function_tag="function_call", system_tag="system")
ALPACA_DEFAULT_COLUMNS = Columns(history="history", system="system")
SHAREGPT_DEFAULT_COLUMNS = Columns(system="system")  # a file read directly: its usual columns
QA_QUESTION_KEYS = ("question", "q", "prompt", "query")
QA_ANSWER_KEYS = ("answer", "a", "response", "reply")


@dataclass
class _Record:
    obj: dict
    file: str
    line: int
    extra_fields: list[str] = field(default_factory=list)

    def fail(self, name: str, why: str):
        raise KnowtuneError(why, file=self.file, line=self.line, field=name)

    def text(self, name: str, *, required: bool, answer: bool = False) -> str:
        if name not in self.obj or self.obj[name] is None:
            if required:
                self.fail(name, "missing required field")
            return ""
        value = self.obj[name]
        if answer and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            value = str(value)  # spreadsheets store numeric answers as numbers; a question is never one
        if not isinstance(value, str):
            self.fail(name, f"must be a string, got {type(value).__name__}")
        if required and not value.strip():
            self.fail(name, "must not be empty")
        return value.strip()


def from_alpaca(obj: dict, file: str, line: int, columns: Columns = ALPACA_DEFAULT_COLUMNS) -> Conversation:
    rec = _Record(obj, file, line)
    messages = []
    system = rec.text(columns.system, required=False) if columns.system else ""
    if system:
        messages.append({"role": "system", "content": system})
    if columns.history and obj.get(columns.history) is not None:
        history = obj[columns.history]
        if not isinstance(history, list):
            rec.fail(columns.history, f"must be a list of [prompt, response] pairs, got {type(history).__name__}")
        for i, pair in enumerate(history):
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(t, str) and t.strip() for t in pair)):
                rec.fail(f"{columns.history}[{i}]", "must be a [prompt, response] pair of non-empty strings")
            messages += [{"role": "user", "content": pair[0].strip()},
                         {"role": "assistant", "content": pair[1].strip()}]
    prompt = rec.text(columns.prompt, required=True)
    query = rec.text(columns.query, required=False) if columns.query else ""
    messages.append({"role": "user", "content": f"{prompt}\n{query}" if query else prompt})
    messages.append({"role": "assistant", "content": rec.text(columns.response, required=True, answer=True)})
    return Conversation(messages, file, line)


def from_sharegpt(obj: dict, file: str, line: int, columns: Columns = SHAREGPT_DEFAULT_COLUMNS,
                  tags: Tags = Tags()) -> Conversation:
    rec = _Record(obj, file, line)
    name = columns.messages
    turns = obj.get(name)
    if turns is None:
        rec.fail(name, "missing required field")
    if not isinstance(turns, list) or not turns:
        rec.fail(name, f"must be a non-empty list of turns, got {type(turns).__name__}")
    roles = {tags.user_tag: "user", tags.observation_tag: "user",  # tool results are read like user turns
             tags.assistant_tag: "assistant", tags.function_tag: "assistant", tags.system_tag: "system"}
    messages = []
    system = rec.text(columns.system, required=False) if columns.system else ""
    for i, turn in enumerate(turns):
        where = f"{name}[{i}]"
        if not isinstance(turn, dict):
            rec.fail(where, f"must be an object, got {type(turn).__name__}")
        role = turn.get(tags.role_tag)
        if role not in roles:
            rec.fail(f"{where}.{tags.role_tag}", f"must be one of {', '.join(map(repr, roles))}, got {role!r}")
        content = turn.get(tags.content_tag)
        if not isinstance(content, str) or not content.strip():
            rec.fail(f"{where}.{tags.content_tag}", "must be a non-empty string")
        if roles[role] == "system":
            if messages:
                rec.fail(f"{where}.{tags.role_tag}", "a system turn may only come first")
            system = content.strip()  # LLaMA-Factory: a system turn overrides the system column
            continue
        expected = "user" if len(messages) % 2 == 0 else "assistant"
        if roles[role] != expected:
            rec.fail(f"{where}.{tags.role_tag}", f"turns must alternate user/assistant; expected a {expected} turn")
        messages.append({"role": roles[role], "content": content.strip()})
    if not messages or messages[-1]["role"] != "assistant":
        rec.fail(name, "must end with an assistant turn")
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return Conversation(messages, file, line)


def from_openai(obj: dict, file: str, line: int) -> Conversation:
    return from_sharegpt(obj, file, line, Columns(messages="messages"), OPENAI_TAGS)


def from_qa(obj: dict, file: str, line: int) -> Conversation:
    """A plain QA table row: question/answer (or q/a, prompt/response) columns, any case."""
    lowered = {k.strip().lower(): k for k in obj}
    rec = _Record(obj, file, line)
    q_key = next((lowered[k] for k in QA_QUESTION_KEYS if k in lowered), "question")
    a_key = next((lowered[k] for k in QA_ANSWER_KEYS if k in lowered), "answer")
    messages = [{"role": "user", "content": rec.text(q_key, required=True)},
                {"role": "assistant", "content": rec.text(a_key, required=True, answer=True)}]
    return Conversation(messages, file, line)


def is_qa_record(obj: dict) -> bool:
    keys = {k.strip().lower() for k in obj}
    return bool(keys & set(QA_QUESTION_KEYS)) and bool(keys & set(QA_ANSWER_KEYS))


PARSERS = {"alpaca": from_alpaca, "sharegpt": from_sharegpt, "openai": from_openai, "qa": from_qa}
