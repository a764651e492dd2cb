"""The API's exposure and load bounds: no keyless serving beyond loopback, Host allow-list,
case-insensitive bearer, keys from a file, cheap checks before tokenizing, Retry-After,
per-request timeouts, departed clients freeing their slot, temperatures that cannot NaN."""

import threading
import time

import httpx
import pytest

from knowtune.config import KnowtuneError
from knowtune.serve.settings import ServeSettings, read_secret

from test_api import QUESTION, client, engine, error_of, one_torch_thread, start, wait_until  # noqa: F401 (fixtures)


def chat(url, engine, headers=None, timeout=60, **fields):
    body = {"model": engine.name, "messages": QUESTION, "max_tokens": 4, **fields}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers or {}, timeout=timeout)


@pytest.fixture
def endless(engine, monkeypatch):
    """The engine replies without end (until `release` is set) or until its stream is closed."""
    closed, calls, release = threading.Event(), [], threading.Event()

    def stream(messages, **kwargs):
        calls.append(messages)
        try:
            while not release.is_set():
                time.sleep(0.01)
                yield "x"
        finally:
            closed.set()

    monkeypatch.setattr(engine, "stream", stream)
    yield closed, calls, release
    release.set()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_no_keyless_serving_beyond_loopback(host):
    with pytest.raises(KnowtuneError, match="--insecure"):
        ServeSettings(host=host)
    assert ServeSettings(host=host, insecure=True) and ServeSettings(host=host, api_key="k")
    assert ServeSettings(host="127.0.0.2").loopback_only


def test_serve_cli_refuses_before_loading_the_model(capsys):
    from knowtune.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--model", "no-such-model", "--host", "0.0.0.0"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "without an API key" in err and "\n" not in err


def test_key_from_a_file(tmp_path):
    path = tmp_path / "key"
    path.write_text("s3cret\n")
    assert read_secret(None, path, field="--api-key") == "s3cret"
    path.write_text("\n")
    with pytest.raises(KnowtuneError, match="is empty"):
        read_secret(None, path, field="--api-key")
    with pytest.raises(KnowtuneError, match="not both"):
        read_secret("x", path, field="--api-key")


def test_bearer_scheme_is_case_insensitive(engine):
    app, serving = start(engine, api_key="s3cret", default_max_tokens=4)
    with serving as url:
        for scheme in ("bearer", "BEARER", "Bearer"):
            assert chat(url, engine, {"Authorization": f"{scheme} s3cret"}).status_code == 200
        for header in ("Basic s3cret", "bearer s3cres", "s3cret", "bearers3cret"):
            reply = chat(url, engine, {"Authorization": header})
            assert reply.status_code == 401 and error_of(reply)["code"] == "invalid_api_key"


def test_keyless_loopback_refuses_other_host_names(engine):
    app, serving = start(engine, default_max_tokens=4, allowed_hosts=("proxy.internal",))
    with serving as url:
        port = url.rsplit(":", 1)[1]
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            reply = httpx.get(f"{url}/v1/models", headers={"Host": host})
            assert reply.status_code == 400 and error_of(reply)["code"] == "invalid_host"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "proxy.internal:80"):
            assert httpx.get(f"{url}/v1/models", headers={"Host": host}).status_code == 200
    app, serving = start(engine, api_key="k", default_max_tokens=4)
    with serving as url:  # with a key, a rebinding page gains nothing: any name is served
        reply = httpx.get(f"{url}/v1/models", headers={"Host": "evil.example", "Authorization": "Bearer k"})
        assert reply.status_code == 200


def test_full_queue_refuses_with_retry_after_before_tokenizing(engine, monkeypatch):
    app, serving = start(engine, max_queue=0, default_max_tokens=4)
    counted = []
    real_count = engine.count_tokens
    monkeypatch.setattr(engine, "count_tokens", lambda text: counted.append(text) or real_count(text))
    with serving as url:
        with engine.lock:  # the model is busy: the first request waits inside the engine
            first = threading.Thread(target=chat, args=(url, engine))
            first.start()
            wait_until(lambda: app.state.queue.pending == 1, "the first request to be admitted")
            before = len(counted)
            refused = chat(url, engine)
            assert refused.status_code == 429 and error_of(refused)["code"] == "queue_full"
            assert int(refused.headers["Retry-After"]) >= 1
            assert len(counted) == before  # refused without rendering or tokenizing
        first.join(timeout=60)


def test_hopeless_requests_are_refused_before_tokenizing(engine, monkeypatch):
    app, serving = start(engine, max_tokens=8, default_max_tokens=4, max_prompt_tokens=16)
    monkeypatch.setattr(engine, "count_tokens", lambda text: pytest.fail("tokenized"))
    with serving as url:
        reply = chat(url, engine, max_tokens=9)
        assert reply.status_code == 400 and error_of(reply)["param"] == "max_tokens"
        huge = [{"role": "user", "content": "x" * 200_000}]
        reply = chat(url, engine, messages=huge)
        assert reply.status_code == 400 and error_of(reply)["code"] == "context_length_exceeded"


def test_a_departed_non_streaming_client_stops_its_generation(engine, endless):
    closed, calls, _ = endless
    app, serving = start(engine, default_max_tokens=4)
    with serving as url:
        with pytest.raises(httpx.ReadTimeout):
            chat(url, engine, timeout=1.0)
        wait_until(closed.is_set, "the generation to stop")
        wait_until(lambda: app.state.queue.pending == 0, "the slot to be freed")


def test_a_departed_waiting_client_never_reaches_the_model(engine, endless):
    closed, calls, release = endless
    app, serving = start(engine, default_max_tokens=4)
    queue, jobs = app.state.queue, []
    submit = queue.submit
    queue.submit = lambda generation: jobs.append(submit(generation)) or jobs[-1]
    with serving as url:
        first = threading.Thread(target=chat, args=(url, engine), kwargs={"timeout": 120})
        first.start()
        wait_until(lambda: len(calls) == 1, "the first request to generate")
        with pytest.raises(httpx.ReadTimeout):  # the second waits behind it, and its client gives up
            chat(url, engine, timeout=1.0)
        wait_until(lambda: len(jobs) == 2 and jobs[1].cancelled.is_set(), "the second job to be cancelled")
        assert queue.pending == 1  # its slot is free while the first still runs, not when the worker gets to it
        release.set()  # the first reply ends; the worker comes to the second
        first.join(timeout=120)
        wait_until(lambda: queue.pending == 0, "the slot to be freed")
    assert len(calls) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_request_timeout_stops_the_generation(engine, endless, stream):
    closed, _, _ = endless
    app, serving = start(engine, default_max_tokens=4, request_timeout=0.5)
    with serving as url:
        reply = chat(url, engine, stream=stream)
        if stream:
            assert reply.status_code == 200 and '"code": "timeout"' in reply.text.replace('":"', '": "')
        else:
            assert reply.status_code == 504 and error_of(reply)["code"] == "timeout"
        wait_until(closed.is_set, "the generation to stop")
        wait_until(lambda: app.state.queue.pending == 0, "the slot to be freed")


@pytest.mark.parametrize("temperature", [1e-30, 5e-324, 1e-3])
def test_tiny_temperature_is_greedy_not_nan(engine, temperature):
    app, serving = start(engine, default_max_tokens=8)
    with serving as url:
        greedy = chat(url, engine, max_tokens=8, temperature=0)
        tiny = chat(url, engine, max_tokens=8, temperature=temperature, seed=1)
        assert tiny.status_code == 200, tiny.text
        assert tiny.json()["choices"][0]["message"] == greedy.json()["choices"][0]["message"]
