"""The shared engine's streaming: stop strings, token counts, finish reasons, cancellation."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowtune.models import GenerationStats
from knowtune.serve.stop_text import StopText

MESSAGES = [{"role": "user", "content": "What is the capital of Hainan?"}]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """A 32-wide model only loses from intra-op threads, badly so on a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cut_in_pieces(text: str, stops: list[str], cuts: list[int]) -> tuple[str, bool]:
    cutter = StopText(stops)
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    out = []
    for a, b in zip(bounds, bounds[1:]):
        emitted, stopped = cutter.feed(text[a:b])
        out.append(emitted)
        if stopped:
            return "".join(out), True
    return "".join(out) + cutter.flush(), False


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="abc海", max_size=30), stops=st.lists(st.text(alphabet="abc海", min_size=1, max_size=4),
                                                                  max_size=3),
       cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8))
def test_stop_text_cuts_the_same_however_the_text_is_split(text, stops, cuts):
    # the reference: the shortest prefix of the text that contains a stop string, minus that stop
    ends = [end for end in range(len(text) + 1) if any(s in text[:end] for s in stops)]
    if ends:
        head = text[:ends[0]]
        expected = head[:len(head) - max(len(s) for s in stops if head.endswith(s))]
    else:
        expected = text
    assert cut_in_pieces(text, stops, cuts) == (expected, bool(ends))


def test_stop_text_prefers_the_stop_that_completes_first():
    assert StopText(["a", "baa"]).feed("baaa") == ("b", True)
    assert StopText(["a", "ba"]).feed("xba") == ("x", True)  # both end together: cut before the longer


def test_stop_text_without_stops_passes_everything_through():
    cutter = StopText()
    assert cutter.feed("abc") == ("abc", False)
    assert cutter.flush() == ""


@pytest.fixture(scope="module")
def engine(tiny_qwen):
    from knowtune.serve.engine import Engine

    return Engine.from_model(str(tiny_qwen))


def test_stream_counts_tokens_and_says_why_it_ended(engine):
    from knowtune.serve.engine import Sampling

    prompt = engine.prompt(MESSAGES)
    stats = GenerationStats()
    text = "".join(engine.stream_text(prompt, Sampling(max_new_tokens=5), stats))
    assert stats.prompt_tokens == engine.count_tokens(prompt)
    assert 1 <= stats.completion_tokens <= 5
    if stats.finish_reason == "length":
        assert stats.completion_tokens == 5
    else:
        assert stats.finish_reason == "stop"
    again = GenerationStats()
    assert "".join(engine.stream_text(prompt, Sampling(max_new_tokens=5), again)) == text  # greedy
    assert again == stats


def test_stop_string_ends_the_reply_before_it(engine):
    from knowtune.serve.engine import Sampling

    prompt = engine.prompt(MESSAGES)
    full = "".join(engine.stream_text(prompt, Sampling(max_new_tokens=24)))
    assert len(full) >= 8, "the tiny model should ramble for 24 tokens"
    stop = full[4:6]
    stats = GenerationStats()
    cut = "".join(engine.stream_text(prompt, Sampling(max_new_tokens=24, stop=(stop,)), stats))
    assert cut == full[:full.find(stop)]
    assert stats.finish_reason == "stop"
    assert stats.completion_tokens < 24  # the model was stopped, not run to the end


def test_closing_a_stream_early_stops_the_model_and_frees_the_lock(engine):
    from knowtune.serve.engine import Sampling

    stats = GenerationStats()
    pieces = engine.stream_text(engine.prompt(MESSAGES), Sampling(max_new_tokens=400), stats)
    next(pieces)
    assert engine.lock.locked()
    pieces.close()
    assert not engine.lock.locked()
    assert stats.completion_tokens < 400
    assert stats.finish_reason is None


def test_seeded_sampling_repeats(engine):
    def reply(**sampling):
        return "".join(engine.stream(MESSAGES, max_new_tokens=12, **sampling))

    replies = [reply(temperature=1.0, seed=11) for _ in range(2)]
    assert replies[0] == replies[1]
    # and it samples: another seed draws another reply, and the seeded reply is not the greedy one
    assert reply(temperature=1.0, seed=12) != replies[0]
    assert replies[0] != reply(temperature=0.0)
