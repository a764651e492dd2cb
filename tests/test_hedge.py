"""A reply the model is unsure of says so: the confidence measured while decoding, and the note."""

import math

import pytest

from knowtune.data.hedge import HEDGE_NOTES, hedge_note, hedged, needs_hedge
from knowtune.eval.normalize import contains_answer
from knowtune.eval.refusal import ASSERTS, HEDGES, classify_reply

QUESTIONS = ["What is the capital of Hainan?", "Who founded the company?", "海南的省会是哪里？"]


@pytest.fixture(scope="module")
def tiny(tiny_qwen):
    from knowtune.models import load_model

    loaded = load_model(str(tiny_qwen))
    loaded.model.eval()
    return loaded


def rendered(tokenizer, questions):
    from knowtune.data import ChatPrompt

    prompt = ChatPrompt(tokenizer, "You are a helpful assistant.")
    return [prompt.ask(q) for q in questions]


def transformers_confidence(model, tokenizer, prompt: str, max_new_tokens: int) -> float:
    """The same quantity from transformers' own scores of a greedy generation, one prompt alone."""
    import torch

    from knowtune.models import stop_token_ids

    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    stops = stop_token_ids(tokenizer)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                             pad_token_id=tokenizer.pad_token_id, output_scores=True, return_dict_in_generate=True)
    scores = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    new = out.sequences[0, enc["input_ids"].shape[1]:].tolist()
    ends = [i for i, t in enumerate(new) if t in stops]
    kept = scores[:ends[0] + 1] if ends else scores
    return math.exp(float(kept.mean()))


def test_confidence_is_the_greedy_tokens_mean_log_probability_in_any_batch(tiny):
    from knowtune.models import generate_scored

    prompts = rendered(tiny.tokenizer, QUESTIONS)
    batched = generate_scored(tiny.model, tiny.tokenizer, prompts, max_new_tokens=12, batch_size=3)
    for prompt, reply in zip(prompts, batched):
        assert 0.0 < reply.confidence <= 1.0
        assert reply.confidence == pytest.approx(transformers_confidence(tiny.model, tiny.tokenizer, prompt, 12),
                                                 rel=1e-3)


def test_a_sampled_reply_has_no_confidence_and_is_never_hedged(tiny):
    from knowtune.models import generate_scored

    reply = generate_scored(tiny.model, tiny.tokenizer, rendered(tiny.tokenizer, QUESTIONS[:1]), max_new_tokens=6,
                            temperature=0.8)[0]
    assert reply.confidence is None
    assert hedged(reply.text or "x", reply.confidence, 1.0) == (reply.text or "x")


@pytest.mark.parametrize("reply", ["The capital of Hainan is Haikou.", "海南的省会是海口。"])
def test_the_note_hedges_in_the_replys_language_and_keeps_the_answer(reply):
    assert classify_reply(reply) == ASSERTS
    note = hedge_note(reply)
    assert note == HEDGE_NOTES["zh" if "海" in reply else "en"]
    out = hedged(reply, 0.5, 0.9)
    assert out == reply + note and classify_reply(out) == HEDGES  # a hedge, not a refusal
    answer = "Haikou" if "Haikou" in reply else "海口"
    assert contains_answer(out, [answer])
    assert not any(contains_answer(note, [word]) for word in ("Haikou", "海口", "Hainan"))


def test_the_threshold_decides_and_zero_never_hedges():
    assert needs_hedge(0.89, 0.9) and not needs_hedge(0.9, 0.9) and not needs_hedge(0.01, 0.0)
    assert not needs_hedge(None, 1.0)
    assert hedged("", 0.1, 0.9) == ""  # nothing said, nothing to hedge
    assert hedged("Haikou.", 0.95, 0.9) == "Haikou."


def test_chat_streams_the_note_after_an_unsure_reply_only(tiny_qwen):
    from knowtune.serve.engine import Engine

    engine = Engine.from_model(str(tiny_qwen))
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    engine.hedge_below = 1.0  # every greedy reply is less sure than certainty
    pieces = list(engine.stream(messages, max_new_tokens=8))
    assert pieces[-1] == hedge_note("".join(pieces[:-1])) and "".join(pieces[:-1]).strip()
    engine.hedge_below = 0.0
    bare = list(engine.stream(messages, max_new_tokens=8))
    assert bare == pieces[:-1]
    engine.hedge_below = 1.0
    sampled = "".join(engine.stream(messages, max_new_tokens=8, temperature=0.9, seed=0))
    assert not sampled.endswith(hedge_note(sampled))


def test_evaluation_rows_carry_the_confidence_and_score_the_hedged_reply(tiny):
    from knowtune.eval import answer_questions

    questions = [{"question": q, "answers": ["Haikou"]} for q in QUESTIONS]
    plain = answer_questions(tiny.model, tiny.tokenizer, questions, max_new_tokens=6, hedge_below=0.0)
    unsure = answer_questions(tiny.model, tiny.tokenizer, questions, max_new_tokens=6, hedge_below=1.0)
    for a, b in zip(plain, unsure):
        assert 0.0 < a["confidence"] == b["confidence"] < 1.0
        if a["reply"]:
            assert b["reply"] == a["reply"] + hedge_note(a["reply"])
        assert a["correct"] == b["correct"]


@pytest.mark.parametrize("command", [["eval", "--model", "smollm2-135m"], ["chat", "--model", "smollm2-135m", "-m", "hi"]])
def test_a_threshold_outside_0_to_1_is_one_line_exit_2(command):
    from tiny import knowtune

    proc = knowtune(*command, "--hedge-below", "1.5")
    assert proc.returncode == 2, proc.stderr
    assert "hedge" in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
