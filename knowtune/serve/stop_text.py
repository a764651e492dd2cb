"""Cut a streamed reply before its first stop string, as the OpenAI API does.

Text arrives in pieces, so a stop string can be split across them: the tail that could
still become a stop string is held back until the next piece decides it. "First" means
the stop string that is complete first (as generation would stop there), so the cut is
the same however the text was split into pieces.
"""

from __future__ import annotations

from ..models.turn_stops import first_stop


class StopText:
    def __init__(self, stops: tuple[str, ...] | list[str] = ()):
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was reached)."""
        self.pending += piece
        cut = first_stop(self.pending, self.stops)
        if cut is not None:
            text, self.pending = self.pending[:cut], ""
            return text, True
        keep = self._longest_partial_stop()
        cut = len(self.pending) - keep
        text, self.pending = self.pending[:cut], self.pending[cut:]
        return text, False

    def flush(self) -> str:
        """What was held back, once the stream has ended without a stop string."""
        text, self.pending = self.pending, ""
        return text

    def _longest_partial_stop(self) -> int:
        """Length of the longest tail of `pending` that is a proper prefix of some stop string."""
        best = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), best, -1):
                if self.pending.endswith(stop[:size]):
                    best = size
                    break
        return best
