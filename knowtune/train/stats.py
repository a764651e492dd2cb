"""What a training run did: steps, tokens, time, losses, and the settings that decided its speed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainStats:
    steps: int = 0
    tokens: int = 0
    """Real (non-pad) tokens seen, over all processes."""
    decoder_tokens: int = 0
    """Positions the decoder ran on, this process (a prompt start its samples share counts once)."""
    seconds: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)
    precision: str = "fp32"
    threads: int = 1
    compiled: bool = False
    """Whether the decoder blocks ran compiled (TrainConfig.compile, "auto" decided)."""
    peak_rss_mb: float = 0.0
    resumed_from: int = 0
    """The checkpoint step training resumed from (0: a fresh start)."""
    epochs: float = 0.0
    """Passes over the training set the run planned (epochs, or more where min_steps raised them)."""
    exposures: float = 0.0
    """Times each piece of knowledge is trained on in the run, on average (its samples x epochs)."""
    full_state: dict | None = field(default=None, repr=False)
    """The gathered model state under ZeRO-3/FSDP, for saving (None otherwise)."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def final_loss(self) -> float:
        return self.losses[-1][1] if self.losses else float("nan")

    def to_dict(self) -> dict:
        return {"steps": self.steps, "tokens": self.tokens, "seconds": round(self.seconds, 2),
                "tokens_per_second": round(self.tokens_per_second, 1), "final_loss": self.final_loss,
                "losses": self.losses, "precision": self.precision, "threads": self.threads, "compiled": self.compiled,
                "peak_rss_mb": round(self.peak_rss_mb, 1), "epochs": round(self.epochs, 2),
                "exposures_per_fact": round(self.exposures, 1), "resumed_from": self.resumed_from}
