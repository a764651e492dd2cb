"""Where the API listens, who may call it, and the bounds that keep it answering."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config import KnowtuneError


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

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and isinstance(value, int):
                least = 0 if f.name in ("max_queue", "port") else 1
                if value < least:
                    raise KnowtuneError(f"must be at least {least}, got {value}", field=_flag(f.name))
        if self.threads is not None and self.threads < 1:
            raise KnowtuneError(f"must be at least 1, got {self.threads}", field="--threads")
        if self.port > 65535:
            raise KnowtuneError(f"not a TCP port: {self.port}", field="--port")
        if self.default_max_tokens > self.max_tokens:
            raise KnowtuneError(f"default reply length {self.default_max_tokens} exceeds --max-tokens "
                                f"{self.max_tokens}", field="--max-tokens")
        if self.api_key is not None and not self.api_key.strip():
            raise KnowtuneError("must not be empty", field="--api-key")

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
