"""Who may use the web UI: a login (Gradio's `auth`) from --auth or KNOWTUNE_AUTH, required
whenever the UI listens beyond loopback, since it reads files, loads models and starts jobs.

Plain functions, no gradio: the command and the tests share them.
"""

from __future__ import annotations

import hmac

from ...config import KnowtuneError
from ..settings import is_loopback

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
