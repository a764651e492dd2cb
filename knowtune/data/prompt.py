"""The one prompt renderer: a conversation (system prompt + turns) as chat-template text.

Training tokenizes a sample with `ChatPrompt.encode` (the prompt masked out of the loss);
inference (evaluation, replay, the engine behind chat, the API and the web UI) asks with
`ChatPrompt.render`. Both put the run's system prompt first the same way and render with
the same template call, so what a model is asked is, token for token, the prompt it was
trained on up to its answer (tests/test_prompt_parity.py). Exported models carry the same
rule inside their chat template (export.hf.template_with_system).

Why in data: the training tokenization with prompt masking is data's, and every layer
above may import it; generation (models.generate) takes the rendered text.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100
"""The label of a token the loss does not count (the prompt, padding)."""


def with_system(messages: list[dict], system_prompt: str | None) -> list[dict]:
    """Prepend the run's system message unless the chat brings its own (training and inference alike)."""
    if not system_prompt or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [{"role": "system", "content": system_prompt}, *messages]


def render_prompt(tokenizer, messages: list[dict], *, generation_prompt: bool = True) -> str:
    """The chat template's text of `messages` as they are (no system prompt added); with the
    generation prompt, the text a reply continues."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode_chat(tokenizer, messages: list[dict], max_len: int) -> dict:
    """input_ids and labels; only the assistant turns' tokens carry labels.

    Each turn is the difference between two renderings of the chat template, so any
    template works as long as rendering a longer chat extends the shorter one. The prompt
    before each turn is rendered exactly as inference renders it (render_prompt).
    """
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render_prompt(tokenizer, messages[:i], generation_prompt=True)
        full = render_prompt(tokenizer, messages[: i + 1], generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ValueError("the chat template does not render turns as prefixes of each other")
        prompt_ids = tokenizer(prompt[len(done):], add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        ids += prompt_ids + answer_ids
        labels += [IGNORE] * len(prompt_ids) + answer_ids
        done = full
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}


@dataclass(frozen=True)
class ChatPrompt:
    """A tokenizer's chat template with a run's system prompt: how every turn is rendered."""

    tokenizer: object
    system: str | None = ""
    """Put before every chat that brings no system message; empty: the template's own default."""

    def messages(self, turns: list[dict]) -> list[dict]:
        return with_system(turns, self.system)

    def render(self, turns: list[dict]) -> str:
        """The text the model is asked at inference: the chat, then the start of its reply."""
        return render_prompt(self.tokenizer, self.messages(turns))

    def ask(self, question: str) -> str:
        """render() of one user question."""
        return self.render([{"role": "user", "content": question}])

    def encode(self, turns: list[dict], max_len: int) -> dict:
        """Training's token ids and labels (the assistant turns' tokens only), cut at max_len."""
        return encode_chat(self.tokenizer, self.messages(turns), max_len)
