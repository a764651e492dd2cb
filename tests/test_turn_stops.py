"""A reply ends where the model starts a turn of its own: a base model asked in the plain template
runs on into "User: …" turns of its own (models.turn_stops). Batch answering (eval, the API's
completions) and streaming (chat, the API, the web UI) end it there alike."""

import pytest
import torch
from test_export_gguf import random_model

from knowtune.data import ChatPrompt
from knowtune.models import DEFAULT_CHAT_TEMPLATE, LoadedModel, generate_scored
from knowtune.models import turn_stops as turn_stops_module
from knowtune.models.turn_stops import cut_at_stop, turn_stops
from knowtune.serve.engine import Engine, Sampling

SYSTEM = "You are a helpful assistant."
QUESTION = "Where is Sanya?"


def plain_model():
    model, tokenizer = random_model("gemma3")  # the architecture whose random replies vary most
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return model, tokenizer


def test_the_plain_template_stops_at_a_user_turn_and_at_its_system_text():
    _, tokenizer = plain_model()
    assert turn_stops(tokenizer, ChatPrompt(tokenizer, SYSTEM).ask("Where is Sanya?")) == ("\nUser:", SYSTEM)
    assert turn_stops(tokenizer, ChatPrompt(tokenizer, None).ask("Where is Sanya?")) == ("\nUser:",)
    chatml = random_model("qwen2")[1]  # its turns end with <|im_end|>, a stop token: no stop text
    assert turn_stops(chatml, ChatPrompt(chatml, SYSTEM).ask("Where is Sanya?")) == ()


def test_a_reply_is_cut_before_its_first_stop_text():
    reply = "Sanya is in the south.\n\nYou are a helpful assistant.\n\nUser: Where is Haikou?"
    assert cut_at_stop(reply, ("\nUser:", SYSTEM)).strip() == "Sanya is in the south."
    assert cut_at_stop(reply, ()) == reply


@pytest.fixture
def run_on(monkeypatch):
    """A plain-template model, a prompt, the model's whole greedy reply, and a piece of that reply made
    the start of a user turn (a random model never writes "\\nUser:" itself)."""
    model, tokenizer = plain_model()
    prompt = ChatPrompt(tokenizer, SYSTEM).ask(QUESTION)
    whole = generate_scored(model, tokenizer, [prompt], max_new_tokens=16, cut_turns=False)[0].text
    # three printable characters, whole characters (no half-decoded byte), first seen there
    at = next(i for i in range(4, len(whole) - 3) if whole[i:i + 3].isprintable() and "\ufffd" not in whole[i:i + 3]
              and whole.find(whole[i:i + 3]) == i)
    monkeypatch.setattr(turn_stops_module, "PLAIN_USER_TURN", whole[at:at + 3])
    return model, tokenizer, prompt, whole, whole[:at].strip()


def test_batch_answers_end_where_the_model_starts_a_turn(run_on):
    model, tokenizer, prompt, whole, before_turn = run_on
    steps = []
    hook = model.register_forward_pre_hook(lambda *_: steps.append(1))
    with torch.inference_mode():
        got = generate_scored(model, tokenizer, [prompt, prompt], max_new_tokens=16, batch_size=2)
    hook.remove()
    assert [r.text for r in got] == [before_turn, before_turn] != [whole, whole]
    assert len(steps) < 16  # the rows left the batch at the turn, not at the token budget
    assert generate_scored(model, tokenizer, [prompt], max_new_tokens=16, cut_turns=False)[0].text == whole


def test_a_streamed_reply_ends_where_the_model_starts_a_turn(run_on):
    model, tokenizer, _, whole, before_turn = run_on
    engine = Engine(loaded=LoadedModel(model, tokenizer, "tiny", "tiny"), name="tiny", hedge_below=0.0,
                    system_prompt=SYSTEM)
    said = "".join(engine.stream([{"role": "user", "content": QUESTION}],
                                 max_new_tokens=16))
    assert said.strip() == before_turn != whole
    # a plain completion of the same text is the model's own continuation: it runs on
    completion = "".join(engine.stream_text(engine.prompt([{"role": "user", "content": QUESTION}]),
                                            Sampling(max_new_tokens=16)))
    assert completion.strip() == whole


def test_an_ollama_model_in_the_plain_template_ends_a_reply_where_knowtune_does():
    from types import SimpleNamespace

    from knowtune.commands.export import ollama_modelfile

    _, tokenizer = plain_model()
    text = ollama_modelfile(SimpleNamespace(tokenizer=tokenizer, system_prompt=SYSTEM, source=None), "run-f32.gguf")
    assert 'PARAMETER stop """\nUser:"""' in text and f'PARAMETER stop """{SYSTEM}"""' in text
    chatml = random_model("qwen2")[1]
    text = ollama_modelfile(SimpleNamespace(tokenizer=chatml, system_prompt=SYSTEM, source=None), "run-f32.gguf")
    assert "User:" not in text.split("PARAMETER", 1)[1]
