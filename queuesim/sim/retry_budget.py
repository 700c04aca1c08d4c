"""Retry budgets: the AWS SDK's retry quota (a token bucket) and Envoy's retry budget (a share of the requests in flight).

Both answer one question for a producer, "may this request retry now?", and learn from four
events the producer reports (:class:`RetryBudget`): a request starts, a retry is asked for, the
attempt a retry made has its answer, the request ends for its client. Neither schedules anything:
they are plain state, so the engine calls them from its callbacks and tests drive them by hand.
"""

from __future__ import annotations

import math
from typing import Protocol

from queuesim.scenario.resilience import RatioBudget, TokenBucketBudget


class RetryBudget(Protocol):
    """What a producer tells its retry budget, and the one question it asks."""

    refused: int

    def request_started(self, request: int) -> None:
        """A request was created (it is in flight for its client)."""

    def allow(self, request: int, timeout: bool) -> bool:
        """May ``request`` retry now (after a 503, or after a timeout when ``timeout``)? True grants and pays for it."""

    def call_ended(self, request: int) -> None:
        """The attempt ``request`` made last has its answer (a 503, an accepted publish, a response or a timeout)."""

    def request_ended(self, request: int, ok: bool) -> None:
        """The client has its answer (``ok``) or gave up on ``request``."""


class RetryQuota:
    """The AWS SDK standard-mode retry quota (botocore's ``RetryQuotaChecker`` on a ``RetryQuota``).

    ``tokens`` starts at ``capacity``. A granted retry pays ``cost`` (``timeout_cost`` after a
    timeout) and remembers what it paid; a request that succeeds puts back what its last retry
    paid, or ``refund`` if it never retried, up to ``capacity``. A request that fails puts nothing
    back. A retry the bucket cannot pay in full is refused (the SDK raises instead of retrying).
    """

    __slots__ = ("capacity", "cost", "last_paid", "refund", "refused", "timeout_cost", "tokens")

    def __init__(self, capacity: int = 500, cost: int = 5, timeout_cost: int = 10, refund: int = 1) -> None:
        self.capacity = capacity
        self.cost = cost
        self.timeout_cost = timeout_cost
        self.refund = refund
        self.tokens = capacity
        self.refused = 0
        self.last_paid: dict[int, int] = {}  # request -> what its last granted retry cost

    @classmethod
    def from_spec(cls, spec: TokenBucketBudget) -> RetryQuota:
        """The quota of a ``budget: {kind: token_bucket}`` block."""
        return cls(spec.capacity, spec.cost, spec.timeout_cost, spec.refund)

    def request_started(self, request: int) -> None:
        """Nothing to do: the quota only counts retries."""

    def allow(self, request: int, timeout: bool) -> bool:
        """Pay for a retry, or refuse it when the bucket holds less than its cost."""
        price = self.timeout_cost if timeout else self.cost
        if self.tokens < price:
            self.refused += 1
            return False
        self.tokens -= price
        self.last_paid[request] = price
        return True

    def call_ended(self, request: int) -> None:
        """Nothing to do: tokens come back only when the whole call succeeds."""

    def request_ended(self, request: int, ok: bool) -> None:
        """A success puts back its last retry's price (or ``refund`` without retries); a failure nothing."""
        paid = self.last_paid.pop(request, None)
        if ok:
            self.tokens = min(self.capacity, self.tokens + (self.refund if paid is None else paid))


class ConcurrencyBudget:
    """Envoy's retry budget: at most max(min_concurrency, ⌊percent · requests in flight⌋) retries in flight.

    ``active`` counts the producer's requests in flight (from creation until the client has its
    answer or gives up: Envoy's active plus pending requests); ``retrying`` the retries in flight,
    each from its grant (its backoff included) until the attempt it made has its answer.
    """

    __slots__ = ("active", "holding", "min_concurrency", "percent", "refused", "retrying")

    def __init__(self, percent: float = 0.2, min_concurrency: int = 3) -> None:
        self.percent = percent
        self.min_concurrency = min_concurrency
        self.active = 0
        self.retrying = 0
        self.refused = 0
        self.holding: set[int] = set()  # requests with a retry in flight

    @classmethod
    def from_spec(cls, spec: RatioBudget) -> ConcurrencyBudget:
        """The budget of a ``budget: {kind: ratio}`` block."""
        return cls(spec.percent, spec.min_concurrency)

    @property
    def limit(self) -> int:
        """Retries that may be in flight now."""
        # Envoy converts the product to an integer (truncation); the small epsilon keeps 0.2 · 15
        # (2.9999999999999996 in floats) at 3
        return max(self.min_concurrency, math.floor(self.percent * self.active + 1e-9))

    def request_started(self, request: int) -> None:
        """One more request in flight."""
        self.active += 1

    def allow(self, request: int, timeout: bool) -> bool:
        """Grant a retry while fewer than :attr:`limit` are in flight."""
        if self.retrying >= self.limit:
            self.refused += 1
            return False
        self.retrying += 1
        self.holding.add(request)
        return True

    def call_ended(self, request: int) -> None:
        """The retry ``request`` held (if any) has its answer: it is no longer in flight."""
        if request in self.holding:
            self.holding.discard(request)
            self.retrying -= 1

    def request_ended(self, request: int, ok: bool) -> None:
        """One request fewer in flight (and its retry, if it still held one)."""
        self.call_ended(request)
        self.active -= 1


def build_budget(spec: TokenBucketBudget | RatioBudget | None) -> RetryBudget | None:
    """The live budget of a ``retry.budget`` block, None without one."""
    if spec is None:
        return None
    if isinstance(spec, TokenBucketBudget):
        return RetryQuota.from_spec(spec)
    return ConcurrencyBudget.from_spec(spec)


__all__ = ["RetryBudget", "RetryQuota", "ConcurrencyBudget", "build_budget"]
