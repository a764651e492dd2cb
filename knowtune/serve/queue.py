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
        self.on_cancel: Callable[[], None] | None = None  # set by the queue: frees a waiting job's slot
        self.started = False  # the worker has taken it (guarded by the queue's lock)
        self.holds_slot = True

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
        if self.on_cancel is not None:
            self.on_cancel()


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
        job.on_cancel = lambda: self._free_if_waiting(job)
        try:
            self._worker.submit(self._run, job, generation)
        except RuntimeError:  # shut down
            self._leave(job)
            raise ApiError(503, "the server is shutting down", type="server_error") from None
        return job

    def shutdown(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, generation: Generation) -> None:
        final: tuple[str, object] = ("done", None)
        started = time.monotonic()
        with self._count_lock:
            job.started = True
        try:
            if job.cancelled.is_set():
                return  # its client left (or timed out) while it waited: its slot is already free
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
            self._leave(job)
            job.put(*final)

    def _free_if_waiting(self, job: Job) -> None:
        """A client that leaves while its request waits gives its slot back now, not when the worker
        reaches the request: otherwise a burst of leavers fills the queue with requests for nobody."""
        with self._count_lock:
            waiting = not job.started
        if waiting:
            self._leave(job)

    def _leave(self, job: Job) -> None:
        """Give the job's slot back, once (the worker and a leaving client may both try)."""
        with self._count_lock:
            if job.holds_slot:
                job.holds_slot = False
                self._admitted -= 1
