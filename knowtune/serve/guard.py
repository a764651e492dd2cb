"""Checks made before any route runs: the API key, and a body that admits to being too big.

A pure ASGI middleware, so an unauthenticated or oversized request is answered before a
byte of its body is read. Bodies that do not declare their size (chunked) are counted
while the route reads them and cut off at the limit.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, body_too_large, unauthorized

OPEN_PATHS = frozenset({"/health"})
"""Answer without a key: they reveal nothing but that the server is up."""


class RequestGuard:
    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int):
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
            receive = self._bounded(receive)
        await self.app(scope, receive, send)

    def _bounded(self, receive: Receive) -> Receive:
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # an HTTPException passes through FastAPI's body reading to the error handlers
                    raise HTTPException(413)
            return message

        return bounded_receive

    def _refusal(self, scope: Scope) -> ApiError | None:
        headers = Headers(scope=scope)
        if self.expected is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get("authorization", "").encode()
            # compare_digest: the time taken does not tell how much of a guess was right
            if not hmac.compare_digest(given, self.expected):
                return unauthorized()
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return ApiError(400, "Content-Length is not a number", code="invalid_request")
            if int(declared) > self.max_body_bytes:
                return body_too_large(self.max_body_bytes)
        return None
