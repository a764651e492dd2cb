"""The serving engine with retrieval (chat --rag, serve --rag): passages only where the reply without
them is unsure or ungrounded, as eval's fine-tuned + RAG row decides."""

from types import SimpleNamespace

import pytest

from knowtune.data.retrieval import build_index
from knowtune.models import GenerationStats

MESSAGES = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is the capital of Hainan?"}]
PASSAGES = ["The capital of Hainan is Haikou.", "Sanya is a city in Hainan.", "The Li people live in Hainan."]


@pytest.fixture
def engine(tiny_qwen):
    """A tiny model's engine with an index, and the prompts it is asked."""
    import torch

    from knowtune.serve.engine import Engine

    torch.set_num_threads(1)
    engine = Engine.from_model(str(tiny_qwen))
    engine.hedge_below = 0.0
    engine.index = build_index(PASSAGES)
    asked, real = [], engine.stream_text
    engine.stream_text = lambda prompt, *args, **kwargs: asked.append(prompt) or real(prompt, *args, **kwargs)
    return engine, asked


def reply(engine, **kwargs) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    return "".join(engine.stream([dict(m) for m in MESSAGES], max_new_tokens=8, stats=stats, **kwargs)), stats


def test_a_sure_grounded_reply_is_kept(engine):
    engine, asked = engine
    engine.retrieve_below = 0.0  # every greedy reply is sure enough
    text, stats = reply(engine)
    assert len(asked) == 1 and "Haikou" not in asked[0]
    engine.index = None
    assert reply(engine) == (text, stats)  # the same reply and counts as without retrieval


def test_an_unsure_reply_is_asked_again_with_passages(engine):
    engine, asked = engine
    engine.retrieve_below = 1.01  # no reply is sure enough
    text, stats = reply(engine)
    assert len(asked) == 2 and "Haikou" not in asked[0]
    # the last question, and only it, carries the passages; the history is as it was
    assert "The capital of Hainan is Haikou." in asked[1] and asked[1].count("Passages") == 1
    assert asked[1].index("Hello.") < asked[1].index("Passages")
    closed = GenerationStats()
    "".join(engine.stream_text(asked[0], engine_sampling(), closed))
    alone = GenerationStats()
    with_passages = "".join(engine.stream_text(asked[1], engine_sampling(), alone)).strip()
    assert text == with_passages
    assert stats.prompt_tokens == closed.prompt_tokens + alone.prompt_tokens  # both passes are counted
    assert stats.completion_tokens == closed.completion_tokens + alone.completion_tokens


def engine_sampling():
    from knowtune.serve.engine import Sampling

    return Sampling(max_new_tokens=8)


def test_an_ungrounded_reply_is_retrieved_for_however_sure(engine):
    engine, asked = engine
    engine.retrieve_below = 0.0
    engine.grounding = SimpleNamespace(ungrounded=lambda question, reply: True)
    reply(engine)
    assert len(asked) == 2 and "Haikou" in asked[1]


def test_a_sampled_reply_always_gets_passages(engine):
    engine, asked = engine
    engine.retrieve_below = 0.0
    reply(engine, temperature=1.0, seed=3)
    assert len(asked) == 1 and "Haikou" in asked[0]  # no closed-book pass: its sureness is not measured
