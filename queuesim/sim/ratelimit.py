"""A token bucket: a producer's client-side rate limit, and a broker's throughput quota (SQS FIFO)."""

from __future__ import annotations

#: Tokens are floats; this much short of a whole token still counts as one, so rounding in
#: ``rate · elapsed`` never refuses an attempt that exact arithmetic would admit.
_SLACK = 1e-9


class TokenBucket:
    """``burst`` tokens, refilled continuously at ``rate`` per second; starts full.

    Over any interval of length t that starts with a full bucket it admits at most
    ``burst + floor(rate · t)`` takes, and exactly that many when takes are always waiting.
    """

    __slots__ = ("burst", "rate", "refused", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = 0.0
        self.refused = 0

    def take(self, now: float) -> bool:
        """Take one token at time ``now`` (non-decreasing); False when the bucket is empty."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1.0 - _SLACK:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        self.refused += 1
        return False

    def wait(self) -> float:
        """Seconds from the last refused take until a whole token is back."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


__all__ = ["TokenBucket"]
