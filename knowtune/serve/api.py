"""The OpenAI-compatible HTTP API over the shared engine.

    GET  /v1/models            the one model served
    POST /v1/chat/completions  chat, streamed (SSE) or whole
    POST /v1/completions       plain continuation of a prompt
    GET  /health               liveness, open even when a key is required

Every request is bounded before it reaches the model (body size, prompt tokens,
max_tokens, queue length; the cheap checks before the prompt is rendered and tokenized)
and every refusal is a 4xx with OpenAI's error body. A request that outlives
`request_timeout`, or whose client disconnects, is cancelled and frees its queue slot.
The `model` field is compared with the served name, nothing more: no request names a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from jinja2.exceptions import TemplateError

from ..models import GenerationStats
from .engine import Engine, Sampling
from .errors import ApiError, install_error_handlers, log, timed_out
from .guard import RequestGuard
from .queue import Generation, GenerationQueue, Job
from .replies import Reply, finish_reason, sse
from .schemas import ChatRequest, CompletionRequest, SamplingRequest
from .settings import ServeSettings


@dataclass
class Plan:
    """A request that passed every bound: what to generate and how."""

    prompt: str
    sampling: Sampling


def create_app(engine: Engine, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    queue = GenerationQueue(settings.max_queue)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        queue.shutdown()

    # docs pages are off: they load their scripts from a CDN, and this server is often offline
    app = FastAPI(title="knowtune", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.engine, app.state.settings, app.state.queue = engine, settings, queue
    app.add_middleware(RequestGuard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes,
                       allowed_hosts=settings.host_allow_list)
    install_error_handlers(app, settings.max_body_bytes)
    created = int(time.time())
    model_card = {"id": engine.name, "object": "model", "created": created, "owned_by": "knowtune"}
    longest_token = longest_token_chars(engine.tokenizer)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [model_card]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str):
        _check_model(engine, model_id, param="model_id")
        return model_card

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        _check_model(engine, body.model)
        messages = [m.as_dict() for m in body.messages]
        _precheck(settings, queue, body, sum(len(m["content"]) for m in messages), longest_token, "messages")
        plan = await anyio.to_thread.run_sync(_plan, engine, settings, body, lambda: _render(engine, messages),
                                              "messages")

        def generation(stats: GenerationStats):
            s = plan.sampling
            return engine.stream(messages, max_new_tokens=s.max_new_tokens, temperature=s.temperature,
                                 top_p=s.top_p, seed=s.seed, stop=s.stop, stats=stats)

        return await _answer(queue, generation, body, Reply(engine.name, chat=True), request, settings)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        _check_model(engine, body.model)
        _precheck(settings, queue, body, len(body.prompt_text()), longest_token, "prompt")
        plan = await anyio.to_thread.run_sync(_plan, engine, settings, body, body.prompt_text, "prompt")

        def generation(stats: GenerationStats):
            return engine.stream_text(plan.prompt, plan.sampling, stats)

        return await _answer(queue, generation, body, Reply(engine.name, chat=False), request, settings)

    return app


def longest_token_chars(tokenizer) -> int:
    """Most characters one token stands for (its vocabulary spelling is never shorter)."""
    try:
        return max((len(token) for token in tokenizer.get_vocab()), default=1) or 1
    except (AttributeError, NotImplementedError, TypeError):
        return 1 << 20  # unknown: the character bound then never refuses


def _precheck(settings: ServeSettings, queue: GenerationQueue, body: SamplingRequest, chars: int,
              longest_token: int, prompt_param: str) -> None:
    """What can be refused without rendering or tokenizing: a full queue, a too-large
    max_tokens, a prompt too long for any tokenization (each token spells at most
    `longest_token` characters, twice that for safety)."""
    queue.refuse_if_full()
    requested, param = body.requested_max_tokens()
    if requested is not None and requested > settings.max_tokens:
        raise ApiError(400, f"{param} is {requested}; this server allows at most {settings.max_tokens}",
                       param=param, code="invalid_value")
    if chars > 2 * longest_token * settings.max_prompt_tokens:
        raise ApiError(400, f"the prompt has {chars} characters, more than {settings.max_prompt_tokens} tokens "
                            f"can hold", param=prompt_param, code="context_length_exceeded")


def _check_model(engine: Engine, name: str, *, param: str = "model") -> None:
    if name != engine.name:
        raise ApiError(404, f"model {name!r} is not served here; this server serves {engine.name!r}",
                       param=param, code="model_not_found")


def _render(engine: Engine, messages: list[dict]) -> str:
    try:
        return engine.prompt(messages)
    except (TemplateError, ValueError) as err:  # e.g. a template that wants alternating roles
        raise ApiError(400, f"the model's chat template refused these messages: {err}",
                       param="messages", code="invalid_messages") from None


def _plan(engine: Engine, settings: ServeSettings, body: SamplingRequest, render, prompt_param: str) -> Plan:
    """Apply the bounds on prompt and reply length (runs in a thread: tokenizing takes time)."""
    prompt = render()
    prompt_tokens = engine.count_tokens(prompt)
    if prompt_tokens == 0:
        raise ApiError(400, "the prompt is empty", param=prompt_param, code="empty_prompt")
    if prompt_tokens > settings.max_prompt_tokens:
        raise ApiError(400, f"the prompt has {prompt_tokens} tokens; this server accepts at most "
                            f"{settings.max_prompt_tokens}", param=prompt_param, code="context_length_exceeded")
    requested, param = body.requested_max_tokens()
    if requested is not None and requested > settings.max_tokens:
        raise ApiError(400, f"{param} is {requested}; this server allows at most {settings.max_tokens}",
                       param=param, code="invalid_value")
    room = engine.context_length - prompt_tokens if engine.context_length else None
    if room is not None and room < 1:
        raise ApiError(400, f"the prompt has {prompt_tokens} tokens, the whole context of this model "
                            f"({engine.context_length})", param=prompt_param, code="context_length_exceeded")
    if requested is not None and room is not None and requested > room:
        raise ApiError(400, f"prompt ({prompt_tokens} tokens) + {param} ({requested}) exceed the model's "
                            f"context of {engine.context_length} tokens", param=param,
                       code="context_length_exceeded")
    max_new = requested or min(settings.default_max_tokens, room or settings.default_max_tokens)
    sampling = Sampling(max_new_tokens=max_new, temperature=body.temperature, top_p=body.top_p,
                        seed=body.seed, stop=body.stop_strings())
    return Plan(prompt=prompt, sampling=sampling)


async def _answer(queue: GenerationQueue, generation: Generation, body: SamplingRequest, reply: Reply,
                  request: Request, settings: ServeSettings):
    job = queue.submit(generation)  # raises the 429 when the queue is full
    deadline = time.monotonic() + settings.request_timeout
    if body.stream:
        return StreamingResponse(_stream(job, reply, body.include_usage, deadline, settings.request_timeout),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    collect = asyncio.ensure_future(_collect(job, reply))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        # a whole reply is sent at the end: without watching, a client that left would keep
        # its slot and the model busy until max_tokens
        done, _ = await asyncio.wait({collect, gone}, timeout=settings.request_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if collect in done:
            return collect.result()
        if gone in done:
            return ApiError(499, "client closed the request", code="client_closed").response()  # never sent
        raise timed_out(settings.request_timeout)
    finally:
        job.cancel()  # a no-op once done; stops (or skips) the generation otherwise
        for task in (collect, gone):
            task.cancel()


async def _collect(job: Job, reply: Reply):
    parts: list[str] = []
    while True:
        kind, value = await job.next_event()
        if kind == "text":
            parts.append(value)
        elif kind == "error":
            raise value
        else:
            return reply.whole("".join(parts), value or GenerationStats())


async def _disconnected(request: Request) -> None:
    """Returns when the client closes its connection (the body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stream(job: Job, reply: Reply, include_usage: bool, deadline: float, timeout: float):
    """SSE chunks as text arrives; a failure or the time limit mid-stream is sent as an error event."""
    try:
        if reply.chat:
            yield sse(reply.chunk(first=True))
        while True:
            try:
                kind, value = await asyncio.wait_for(job.next_event(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                yield sse(timed_out(timeout).body())
                return
            if kind == "text":
                yield sse(reply.chunk(value))
                continue
            if kind == "error":
                log.error("generation failed mid-stream", exc_info=value)
                yield sse(ApiError(500, "internal server error", type="server_error").body())
                return
            stats = value or GenerationStats()
            yield sse(reply.chunk(finish=finish_reason(stats)))
            if include_usage:
                yield sse(reply.usage_chunk(stats))
            yield sse("[DONE]")
            return
    finally:
        job.cancel()  # the client left (or the stream ended): stop generating for nobody
