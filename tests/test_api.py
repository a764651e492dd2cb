"""The OpenAI-compatible API, served live on loopback and called with the official client."""

import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from knowtune.serve.api import create_app
from knowtune.serve.background import serve_in_thread
from knowtune.serve.settings import ServeSettings

QUESTION = [{"role": "user", "content": "What is the capital of Hainan?"}]
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """A 32-wide model only loses from intra-op threads, badly so on a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def engine(tiny_qwen):
    from knowtune.serve.engine import Engine

    return Engine.from_model(str(tiny_qwen))


def start(engine, **settings):
    app = create_app(engine, ServeSettings(**settings))
    return app, serve_in_thread(app)


@pytest.fixture(scope="module")
def server(engine):
    app, serving = start(engine, max_tokens=400, default_max_tokens=24, max_prompt_tokens=64,
                         max_body_bytes=4000)
    with serving as url:
        yield app, url


def client(url, key="unused"):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    return body["error"]


def wait_until(condition, what: str, limit: float = 30.0):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_models_lists_the_served_model(server, engine):
    app, url = server
    models = client(url).models.list()
    assert [m.id for m in models.data] == [engine.name]
    assert client(url).models.retrieve(engine.name).id == engine.name


def test_chat_reply_matches_the_engine_with_usage(server, engine):
    app, url = server
    reply = client(url).chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=10,
                                                temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "".join(engine.stream(QUESTION, max_new_tokens=10))
    assert reply.usage.prompt_tokens == engine.count_tokens(engine.prompt(QUESTION))
    assert 1 <= reply.usage.completion_tokens <= 10
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert choice.finish_reason in ("stop", "length")
    if choice.finish_reason == "length":
        assert reply.usage.completion_tokens == 10


def test_streamed_chat_equals_the_whole_reply(server, engine):
    app, url = server
    api = client(url)
    whole = api.chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=16)
    chunks = list(api.chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=16, stream=True,
                                              stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert len({c.id for c in chunks}) == 1


def test_completion_continues_the_raw_prompt(server, engine):
    from knowtune.serve.engine import Sampling

    app, url = server
    api = client(url)
    reply = api.completions.create(model=engine.name, prompt="The capital of Hainan is", max_tokens=8)
    expected = "".join(engine.stream_text("The capital of Hainan is", Sampling(max_new_tokens=8)))
    assert reply.choices[0].text == expected
    assert reply.usage.prompt_tokens == engine.count_tokens("The capital of Hainan is")
    streamed = api.completions.create(model=engine.name, prompt="The capital of Hainan is", max_tokens=8,
                                      stream=True)
    assert "".join(c.choices[0].text for c in streamed) == expected


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequence_cuts_the_reply(server, engine, stream):
    app, url = server
    api = client(url)
    full = api.completions.create(model=engine.name, prompt="Tell me the highest peak", max_tokens=24).choices[0]
    assert len(full.text) >= 8, "the tiny model should ramble for 24 tokens"
    stop = full.text[5:7]
    expected = full.text[:full.text.find(stop)]
    if stream:
        chunks = list(api.completions.create(model=engine.name, prompt="Tell me the highest peak", max_tokens=24,
                                             stop=[stop, "never-appears"], stream=True))
        text = "".join(c.choices[0].text for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        cut = api.completions.create(model=engine.name, prompt="Tell me the highest peak", max_tokens=24,
                                     stop=stop).choices[0]
        text, finish = cut.text, cut.finish_reason
    assert text == expected and stop not in text
    assert finish == "stop"


def test_max_tokens_is_honoured_and_bounded(server, engine):
    app, url = server
    api = client(url)
    short = api.chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=3)
    assert short.usage.completion_tokens <= 3
    with pytest.raises(openai.BadRequestError) as err:
        api.chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=401)
    assert err.value.status_code == 400
    assert error_of(err.value.response)["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError) as err:  # 400 allowed, but not within a 512-token context
        api.chat.completions.create(model=engine.name, messages=[{"role": "user", "content": "x " * 60}],
                                    max_tokens=400)
    assert error_of(err.value.response)["code"] == "context_length_exceeded"


def test_too_long_prompt_is_refused(server, engine):
    app, url = server
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(model=engine.name, messages=[{"role": "user", "content": "Haikou " * 80}])
    error = error_of(err.value.response)
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"


def test_invalid_json_and_invalid_values_get_openai_error_bodies(server, engine):
    app, url = server
    bad_json = httpx.post(f"{url}/v1/chat/completions", content=b'{"model": "x", "messages": [',
                          headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert error_of(bad_json)["code"] == "invalid_json"
    not_an_object = [b"[]", b"null", b"", b"[" * 1500 + b"]" * 1500, b'{"model": "\xff"}']
    for body in not_an_object:
        response = httpx.post(f"{url}/v1/chat/completions", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_json", body[:20]
    form = httpx.post(f"{url}/v1/chat/completions", data={"model": engine.name})  # curl -d without a JSON header
    assert form.status_code == 400 and error_of(form)["code"] == "invalid_json"
    for field, value in [("temperature", 5), ("n", 2), ("stop", ["a", "b", "c", "d", "e"]), ("messages", [])]:
        body = {"model": engine.name, "messages": QUESTION, field: value}
        response = httpx.post(f"{url}/v1/chat/completions", json=body)
        assert response.status_code == 400, (field, response.text)
        assert error_of(response)["param"] == field
    missing = httpx.get(f"{url}/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_model_field_is_only_compared_never_opened(server, engine, tiny_qwen):
    app, url = server
    for name in (str(tiny_qwen), "/etc/passwd", "../" + engine.name):
        with pytest.raises(openai.NotFoundError) as err:
            client(url).chat.completions.create(model=name, messages=QUESTION)
        assert error_of(err.value.response)["code"] == "model_not_found"


def test_oversized_bodies_get_413(server, engine):
    app, url = server
    big = {"model": engine.name, "messages": [{"role": "user", "content": "x" * 5000}]}
    declared = httpx.post(f"{url}/v1/chat/completions", json=big)
    assert declared.status_code == 413 and error_of(declared)["code"] == "request_too_large"

    def chunked():  # no Content-Length: the limit applies while the body is read
        payload = json.dumps(big).encode()
        for at in range(0, len(payload), 1000):
            yield payload[at:at + 1000]

    streamed = httpx.post(f"{url}/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and error_of(streamed)["code"] == "request_too_large"


def test_api_key_is_required_and_checked(engine):
    app, serving = start(engine, api_key="s3cret-key", default_max_tokens=4)
    with serving as url:
        reply = client(url, key="s3cret-key").chat.completions.create(model=engine.name, messages=QUESTION)
        assert reply.choices[0].message.content is not None
        with pytest.raises(openai.AuthenticationError) as err:
            client(url, key="s3cret-kez").chat.completions.create(model=engine.name, messages=QUESTION)
        assert error_of(err.value.response)["code"] == "invalid_api_key"
        anonymous = httpx.get(f"{url}/v1/models")
        assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "invalid_api_key"
        assert httpx.get(f"{url}/health").status_code == 200


def test_full_queue_answers_429_and_recovers(engine):
    app, serving = start(engine, max_queue=0, default_max_tokens=4)
    queue = app.state.queue
    with serving as url:
        results = {}
        with engine.lock:  # the model is busy: the first request waits inside the engine
            first = threading.Thread(target=lambda: results.update(
                first=client(url).chat.completions.create(model=engine.name, messages=QUESTION)))
            first.start()
            wait_until(lambda: queue.pending == 1, "the first request to be admitted")
            with pytest.raises(openai.RateLimitError) as err:
                client(url).chat.completions.create(model=engine.name, messages=QUESTION)
            assert err.value.status_code == 429
            assert error_of(err.value.response)["code"] == "queue_full"
        first.join(timeout=60)
        assert results["first"].choices[0].message.content is not None
        assert queue.pending == 0
        assert client(url).chat.completions.create(model=engine.name, messages=QUESTION).choices


def test_client_leaving_a_stream_frees_the_server(server, engine):
    app, url = server
    with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=60,
                      json={"model": engine.name, "messages": QUESTION, "max_tokens": 400, "stream": True}) as r:
        assert r.status_code == 200
        next(r.iter_lines())
    wait_until(lambda: app.state.queue.pending == 0 and not engine.lock.locked(), "the generation to stop")
    assert client(url).chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=3).choices


def test_concurrent_requests_get_the_sequential_greedy_answers(server, engine):
    app, url = server
    topics = ["What is the capital of Hainan?", "海南的最高峰是什么？", "Tell me the highest peak.",
              "0123456789", "abc xyz ABC XYZ!", "User: Assistant: system"]
    questions = [[{"role": "user", "content": topic}] for topic in topics]
    api = client(url)

    def ask(i: int, stream: bool) -> str:
        kwargs = dict(model=engine.name, messages=questions[i], max_tokens=12, temperature=0)
        if stream:
            return "".join(c.choices[0].delta.content or "" for c in api.chat.completions.create(stream=True, **kwargs))
        return api.chat.completions.create(**kwargs).choices[0].message.content

    sequential = [ask(i, False) for i in range(6)]
    assert len(set(sequential)) > 1, "different questions should get different answers"
    with forward_overlap(engine.loaded.model) as overlap, ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(ask, range(6), [i % 2 == 0 for i in range(6)]))
    assert concurrent == sequential
    assert overlap["calls"] > 0 and overlap["most_at_once"] == 1  # model calls never interleaved


@contextlib.contextmanager
def forward_overlap(model):
    """Count how many forward passes of `model` ever ran at the same time."""
    seen = {"active": 0, "most_at_once": 0, "calls": 0}
    guard = threading.Lock()

    def enter(module, args):
        with guard:
            seen["active"] += 1
            seen["calls"] += 1
            seen["most_at_once"] = max(seen["most_at_once"], seen["active"])

    def leave(module, args, output):
        with guard:
            seen["active"] -= 1

    hooks = [model.register_forward_pre_hook(enter), model.register_forward_hook(leave)]
    try:
        yield seen
    finally:
        for hook in hooks:
            hook.remove()


def test_seed_makes_sampling_repeatable(server, engine):
    app, url = server
    api = client(url)

    def reply(**sampling):
        return api.chat.completions.create(model=engine.name, messages=QUESTION, max_tokens=12,
                                           **sampling).choices[0].message.content

    replies = [reply(temperature=1.0, seed=1234) for _ in range(2)]
    assert replies[0] == replies[1]
    # and it samples: another seed draws another reply, and the seeded reply is not the greedy one
    assert reply(temperature=1.0, seed=1235) != replies[0]
    assert replies[0] != reply(temperature=0)


@pytest.mark.parametrize("args, message", [
    ([], "give exactly one of --run or --model"),
    (["--max-queue", "-1"], "field '--max-queue': must be at least 0"),
    (["--max-tokens", "0"], "field '--max-tokens': must be at least 1"),
])
def test_serve_command_refuses_bad_options_in_one_line(args, message, tiny_qwen, capsys):
    from knowtune.cli import main

    model = ["--model", str(tiny_qwen)] if args else []
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *model, *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
