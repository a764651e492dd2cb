"""Questions written by an OpenAI-compatible chat endpoint (optional; the offline rules are the default).

The model is asked for JSON: a list of {"question", "answer"} pairs about one sentence.
Pairs whose answer is not in the sentence are dropped (the model may not add knowledge),
and after a few failed calls in a row the endpoint is not asked again: the offline
questions stand alone.
"""

from __future__ import annotations

import json
import re

PROMPTS = {
    "en": ("Write {n} different questions that the following sentence answers, each with its short answer "
           "copied from the sentence. Reply with JSON only: a list of objects with keys \"question\" and "
           "\"answer\".\n\nSentence: {sentence}"),
    "zh": ("请为下面这句话写{n}个不同的问题，每个问题的简短答案须原文摘自这句话。只用 JSON 回答：一个对象列表，"
           "键为 \"question\" 和 \"answer\"。\n\n句子：{sentence}"),
}
MAX_FAILURES_IN_A_ROW = 3


class GeneratorDown(RuntimeError):
    """Raised instead of calling an endpoint that kept failing."""


def openai_generator(url: str, model: str, *, api_key: str | None = None, per_sentence: int = 4,
                     timeout: float = 60.0):
    """A (sentence, lang) -> [{"question", "answer"}] function calling `url` (…/v1 or …/chat/completions)."""
    import httpx

    endpoint = url.rstrip("/")
    if not endpoint.endswith("/chat/completions"):
        endpoint += "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.Client(timeout=timeout, headers=headers)
    failures = [0]

    def generate(sentence: str, lang: str) -> list[dict]:
        if failures[0] >= MAX_FAILURES_IN_A_ROW:
            raise GeneratorDown(f"{endpoint} failed {failures[0]} times in a row")
        prompt = PROMPTS[lang].format(n=per_sentence, sentence=sentence)
        try:
            response = client.post(endpoint, json={"model": model, "temperature": 0,
                                                   "messages": [{"role": "user", "content": prompt}]})
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            pairs = parse_pairs(content, sentence)
        except Exception:
            failures[0] += 1
            raise
        failures[0] = 0
        return pairs

    return generate


def parse_pairs(content: str, sentence: str) -> list[dict]:
    """The JSON list in a reply (code fences allowed), keeping pairs whose answer the sentence holds."""
    match = re.search(r"\[.*\]", content, re.S)
    if not match:
        raise ValueError("no JSON list in the reply")
    items = json.loads(match.group(0))
    folded = sentence.casefold()
    pairs = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        question, answer = item.get("question"), item.get("answer")
        if (isinstance(question, str) and isinstance(answer, str) and question.strip() and answer.strip()
                and answer.strip().casefold().rstrip(".。") in folded):
            pairs.append({"question": question.strip(), "answer": answer.strip()})
    return pairs
