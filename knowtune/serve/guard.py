"""Checks made before any route runs: the Host header (keyless loopback servers), the API
key, and a body that admits to being too big.

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
    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int,
                 allowed_hosts: frozenset[str] | None = None):
        self.app = app
        self.expected = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.allowed_hosts = allowed_hosts

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
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            return ApiError(400, "this server answers requests to its loopback address only (Host header "
                                 "refused); serve with an API key to accept other names", code="invalid_host")
        if self.expected is not None and scope["path"] not in OPEN_PATHS:
            scheme, _, token = headers.get("authorization", "").strip().partition(" ")
            # the scheme is case-insensitive (RFC 7235); compare_digest: the time taken does not
            # tell how much of a guess was right
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.expected):
                return unauthorized()
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return ApiError(400, "Content-Length is not a number", code="invalid_request")
            if int(declared) > self.max_body_bytes:
                return body_too_large(self.max_body_bytes)
        return None


def host_name(host: str) -> str:
    """`Host` without its port, lower-cased: "[::1]:8000" -> "::1", "Localhost:80" -> "localhost"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
