"""The API's waiting line in front of the engine.

One worker thread runs generations one at a time (the engine's lock would serialise them
anyway; the single worker also keeps waiting requests from each pinning a thread). At
most `max_queue` requests wait behind the running one; the next is refused at once
instead of waiting without bound. Text flows from the worker to the request's event loop
through an asyncio queue; a request that goes away cancels its generation, which then
stops at the next token (or is skipped if it has not started).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

from ..models import GenerationStats
from .errors import ApiError, queue_full

Generation = Callable[[GenerationStats], Iterator[str]]


class Job:
    """One request's generation, as seen from its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._events: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()

    def put(self, kind: str, value) -> None:
        """Called from the worker thread."""
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            self.cancelled.set()

    async def next_event(self) -> tuple[str, object]:
        """("text", str) pieces, then ("done", GenerationStats) or ("error", exception)."""
        return await self._events.get()

    def cancel(self) -> None:
        self.cancelled.set()


class GenerationQueue:
    def __init__(self, max_queue: int):
        self.capacity = max_queue + 1
        self._admitted = 0
        self._count_lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowtune-generate")
        self._average_seconds = 1.0  # of recent generations: what Retry-After tells a refused client

    @property
    def pending(self) -> int:
        """Requests admitted and not yet finished: the running one plus those waiting."""
        return self._admitted

    @property
    def full(self) -> bool:
        return self._admitted >= self.capacity

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: about one generation, 1 to 60."""
        return min(60, max(1, math.ceil(self._average_seconds)))

    def refuse_if_full(self) -> None:
        """The cheap check made before a request is rendered and tokenized."""
        if self.full:
            raise queue_full(self.retry_after())

    def submit(self, generation: Generation) -> Job:
        """Queue a generation for the calling event loop, or raise a 429 ApiError when full."""
        with self._count_lock:
            if self._admitted >= self.capacity:
                raise queue_full(self.retry_after())
            self._admitted += 1
        job = Job(asyncio.get_running_loop())
        try:
            self._worker.submit(self._run, job, generation)
        except RuntimeError:  # shut down
            self._leave()
            raise ApiError(503, "the server is shutting down", type="server_error") from None
        return job

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, generation: Generation) -> None:
        final: tuple[str, object] = ("done", None)
        started = time.monotonic()
        try:
            if job.cancelled.is_set():
                return  # its client left (or timed out) while it waited: the slot frees at once
            stats = GenerationStats()
            with contextlib.closing(generation(stats)) as pieces:
                for text in pieces:
                    if job.cancelled.is_set():
                        break  # closing the stream stops the model before the next job starts
                    job.put("text", text)
            final = ("done", stats)
            self._average_seconds = 0.8 * self._average_seconds + 0.2 * (time.monotonic() - started)
        except Exception as err:  # reported to the request, which answers with an error body
            final = ("error", err)
        finally:
            # Free the slot before the answer ends, so a client that sends its next request
            # as soon as this one is answered never finds its own finished request counted.
            self._leave()
            job.put(*final)

    def _leave(self) -> None:
        with self._count_lock:
            self._admitted -= 1
