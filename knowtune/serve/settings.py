"""Where the API listens, who may call it, and the bounds that keep it answering."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, fields
from pathlib import Path

from ..config import HEDGE_BELOW, KnowtuneError
from ..config.coerce import check_valid, cli_flag

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    """Loopback by default: serving beyond this machine is an explicit choice."""
    port: int = 8000
    api_key: str | None = None
    """When set, every request needs `Authorization: Bearer <key>`."""
    max_body_bytes: int = 1_000_000
    max_prompt_tokens: int = 4096
    max_tokens: int = 1024
    """Upper bound on a request's `max_tokens`."""
    default_max_tokens: int = 256
    """Reply length when a request names none."""
    max_queue: int = 32
    """Requests that may wait while one is generating; more are refused with 429."""
    threads: int | None = None
    """torch CPU threads (None: torch's default). 1 suits tiny models on a busy machine."""
    hedge_below: float = HEDGE_BELOW
    """A greedy chat reply less sure than this ends with a note that it may be wrong (data.hedge); 0: never."""
    fact_check: bool = True
    """A run's chat reply about its knowledge base that none of the facts grounds ends with a note saying so (data.grounding)."""
    route: bool = True
    """A run's chat question outside its knowledge base is answered with the adapter off (data.scope)."""
    rag: bool = False
    """A run's chat reply that is unsure or ungrounded is asked again with passages of its knowledge base (Engine.index)."""
    request_timeout: float = 300.0
    """Seconds a request may take, waiting in the queue included; then it is stopped."""
    insecure: bool = False
    """Allow serving beyond loopback without an API key."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names accepted, besides loopback ones, by a keyless loopback server (behind a proxy)."""

    def __post_init__(self):
        check_valid(self, field=cli_flag)  # settings come from the command line: errors name its flags

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and isinstance(value, int):
                least = 0 if f.name in ("max_queue", "port") else 1
                if value < least:
                    raise ValueError(f"{f.name}: must be at least {least}, got {value}")
        if not 0.0 <= self.hedge_below <= 1.0:
            raise ValueError(f"hedge_below: a probability from 0 to 1, got {self.hedge_below}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads: must be at least 1, got {self.threads}")
        if self.port > 65535:
            raise ValueError(f"port: not a TCP port: {self.port}")
        if self.default_max_tokens > self.max_tokens:
            raise ValueError(f"max_tokens: default reply length {self.default_max_tokens} exceeds --max-tokens "
                             f"{self.max_tokens}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key: must not be empty")
        if not (math.isfinite(self.request_timeout) and self.request_timeout > 0):
            raise ValueError(f"request_timeout: must be > 0 seconds, got {self.request_timeout}")
        if not self.loopback_only and self.api_key is None and not self.insecure:
            raise ValueError(f"host: refusing to serve on {self.host} without an API key: anyone who reaches the "
                             f"port could use the model. Set KNOWTUNE_API_KEY (or --api-key-file), or pass "
                             f"--insecure")

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.host)

    @property
    def host_allow_list(self) -> frozenset[str] | None:
        """Host names a request may name, or None for any.

        A keyless server on loopback is still reachable from a web page through DNS
        rebinding (evil.example resolving to 127.0.0.1): the browser then sends
        `Host: evil.example`, which this list refuses. A key makes the check needless.
        """
        if self.api_key is not None or not self.loopback_only:
            return None
        return frozenset(LOOPBACK_NAMES) | {h.lower() for h in self.allowed_hosts}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_secret(value: str | None, file: Path | None, *, field: str) -> str | None:
    """A key or password given directly or in a file (first line; a file keeps it out of `ps`)."""
    if file is None:
        return value
    if value is not None:
        raise KnowtuneError(f"give the secret or {field}-file, not both", field=field)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise KnowtuneError(f"cannot read ({type(err).__name__})", file=str(file), field=f"{field}-file") from None
    secret = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
    if not secret:
        raise KnowtuneError("is empty", file=str(file), field=f"{field}-file")
    return secret
