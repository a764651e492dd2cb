"""Who may use the web UI: a login (Gradio's `auth`) from --auth or KNOWTUNE_AUTH, required
whenever the UI listens beyond loopback, since it reads files, loads models and starts jobs;
without a login, only loopback Host names are answered (DNS rebinding).

Plain functions, no gradio: the command and the tests share them.
"""

from __future__ import annotations

import hmac

from ...config import KnowtuneError
from ..guard import host_name
from ..settings import LOOPBACK_NAMES, is_loopback

DEFAULT_USER = "knowtune"


def parse_login(secret: str | None) -> tuple[str, str] | None:
    """"USER:PASSWORD", or a bare token (then the user name is `knowtune`)."""
    if secret is None:
        return None
    user, sep, password = secret.partition(":")
    if not sep:
        user, password = DEFAULT_USER, secret
    if not user.strip() or not password.strip():
        raise KnowtuneError("must be USER:PASSWORD or a token, neither part empty", field="--auth")
    return user.strip(), password.strip()


def login_checker(login: tuple[str, str]):
    """Gradio's auth callable; compare_digest so the time taken says nothing about a guess."""
    user, password = (part.encode() for part in login)

    def check(given_user: str, given_password: str) -> bool:
        same_user = hmac.compare_digest(str(given_user).encode(), user)
        return hmac.compare_digest(str(given_password).encode(), password) and same_user

    return check


def check_exposure(host: str, login: tuple[str, str] | None, insecure: bool) -> None:
    if login is None and not is_loopback(host) and not insecure:
        raise KnowtuneError(f"refusing to serve the web UI on {host} without a login: anyone who reaches the "
                            f"port could read files and start jobs. Set KNOWTUNE_AUTH=USER:PASSWORD (or "
                            f"--auth-file), or pass --insecure", field="--host")


class HostAllowList:
    """ASGI middleware: only loopback `Host` names reach a web UI without a login.

    A page on evil.example whose name is made to resolve to 127.0.0.1 (DNS rebinding) would
    otherwise drive the UI from the user's own browser; its requests carry its own Host.
    """

    def __init__(self, app, allowed: frozenset[str] = frozenset(LOOPBACK_NAMES)):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
            if host_name(host) not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = b"this web UI answers requests to its loopback address only (Host header refused)"
                headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def app_kwargs(host: str, login: tuple[str, str] | None) -> dict:
    """What Gradio's FastAPI app is made with: the Host check when keyless on loopback."""
    if login is not None or not is_loopback(host):
        return {}
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(HostAllowList)]}
