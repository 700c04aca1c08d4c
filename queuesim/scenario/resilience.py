"""Client resilience settings of a producer: retry budgets, a circuit breaker, hedged requests, and closed or capped client populations.

Each block is optional and changes nothing when absent. The numbers a block defaults to are the
documented defaults of the client library it imitates (sources in the README, "Client resilience and stability maps"):

- ``retry.budget: {kind: token_bucket}``: the AWS SDK "standard" retry quota (botocore's
  ``RetryQuotaChecker``): a bucket of 500 tokens; a retry costs 5, a retry after a timeout 10;
  a call that succeeds without a retry puts 1 back, one that succeeded after retries puts back
  what its last retry cost; no retry while the bucket cannot pay.
- ``retry.budget: {kind: ratio}``: Envoy's retry budget: retries in flight may be at most
  ``percent`` (20%) of the requests in flight, but never fewer than ``min_concurrency`` (3).
- ``breaker``: a closed / open / half-open circuit breaker (resilience4j's count-based sliding
  window, Polly's break duration).
- ``hedge``: gRPC-style hedging: a further copy of a request its client still waits for after
  ``after`` (a duration, or a percentile of the response times seen so far).
- ``users`` + ``think``: a closed population (the interactive model): each user sends a request,
  waits for it to end, thinks, and sends the next. ``max_in_flight`` caps an open producer's
  concurrent requests: an arrival beyond the cap waits in the client for a free slot.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ._base import Frozen, Int, fail
from .units import PositiveDuration, parse_duration

__all__ = [
    "Fraction",
    "TokenBucketBudget",
    "RatioBudget",
    "RetryBudget",
    "CircuitBreaker",
    "Hedge",
    "HEDGE_PERCENTILE",
]

_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%\s*$")
#: ``after: p95`` (or p50 … p999): a percentile of the responses seen so far.
HEDGE_PERCENTILE = re.compile(r"^p(50|75|90|95|99|999)$")


def _fraction(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("fraction", "{reason}", {"reason": f"must be a fraction (0.2 or 20%), got {str(value).lower()}"})
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match is None:
            raise PydanticCustomError("fraction", "{reason}", {"reason": f"expected a fraction like 0.2 or 20%, got {value!r}"})
        return float(match.group(1)) / 100
    return value


#: A fraction in (0, 1], written 0.2 or 20%.
Fraction = Annotated[float, BeforeValidator(_fraction), Field(gt=0, le=1)]


class TokenBucketBudget(Frozen):
    """The AWS SDK standard-mode retry quota: a token bucket the client's retries are paid from.

    The bucket starts full at ``capacity``. A retry after a 503 takes ``cost`` tokens, a retry
    after a timeout ``timeout_cost``; a retry the bucket cannot pay is not made (the request
    gives up, or its client abandons it). A call that succeeds puts tokens back: ``refund`` if it
    needed no retry, else what its last retry took; the bucket never holds more than
    ``capacity``. One bucket per producer (the SDK keeps one per client).
    """

    kind: Literal["token_bucket"] = "token_bucket"
    capacity: Int = Field(500, ge=1)
    cost: Int = Field(5, ge=1)
    timeout_cost: Int = Field(10, ge=1)
    refund: Int = Field(1, ge=0)


class RatioBudget(Frozen):
    """Envoy's retry budget: retries in flight at most ``percent`` of the requests in flight, and never fewer than ``min_concurrency``.

    A request is in flight from its creation until its client has its answer or gives up; a retry
    is in flight from the moment it is granted (its backoff included) until the attempt it made
    has its answer. A retry beyond the budget is not made.
    """

    kind: Literal["ratio"] = "ratio"
    percent: Fraction = 0.2
    min_concurrency: Int = Field(3, ge=0)


#: A producer's retry budget, chosen by its ``kind``.
RetryBudget = Annotated[TokenBucketBudget | RatioBudget, Field(discriminator="kind")]


class CircuitBreaker(Frozen):
    """A closed / open / half-open circuit breaker in front of a producer's publishes.

    Closed, it records the result of each call: a publish the broker refused (503), an attempt
    whose client timed out, or (``sync``) an error response, is a failure; an accepted publish
    (or, for a client that waits, its response) a success. It opens when ``failure_rate`` of the
    last ``window`` calls failed, once at least ``min_calls`` were recorded (resilience4j's
    count-based sliding window), or, with ``consecutive_failures``, after that many failures in a
    row (Polly's classic breaker). Open, every publish attempt fails at once, without reaching the
    broker (the request ends **short-circuited**). After ``open_for`` it is half-open: it lets
    ``half_open_calls`` trial calls through (10 with a failure rate, 1 with consecutive failures)
    and refuses the rest; once they all have their result it closes, unless they failed at the
    threshold rate (any failure, with consecutive failures), which opens it again.
    """

    failure_rate: Fraction = 0.5
    window: Int = Field(100, ge=1)
    min_calls: Int | None = Field(None, ge=1)
    consecutive_failures: Int | None = Field(None, ge=1)
    open_for: PositiveDuration = 5.0
    half_open_calls: Int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_trip_rule(self) -> CircuitBreaker:
        if self.consecutive_failures is not None and ({"failure_rate", "window", "min_calls"} & self.model_fields_set):
            given = sorted({"failure_rate", "window", "min_calls"} & self.model_fields_set)
            fail("CircuitBreaker", [((given[0],), "give either `consecutive_failures` or a failure rate over a window, not both")])
        if self.min_calls is not None and self.min_calls > self.window:
            fail("CircuitBreaker", [(("min_calls",), f"must be ≤ window ({self.window}): the window never holds more calls")], self.min_calls)
        return self

    @property
    def calls_needed(self) -> int:
        """Calls the window must hold before its failure rate can open the breaker (``min_calls``, default ``window``)."""
        return self.window if self.min_calls is None else self.min_calls

    @property
    def trials(self) -> int:
        """Calls let through while half-open."""
        if self.half_open_calls is not None:
            return self.half_open_calls
        return 1 if self.consecutive_failures is not None else 10


def _hedge_after(value: Any) -> Any:
    # a percentile stays text; anything else must be a positive duration (50ms, 0.05)
    if isinstance(value, str) and value.strip().startswith("p"):
        return value.strip()
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(error)}) from None
    if not seconds > 0:
        raise PydanticCustomError("duration", "{reason}", {"reason": f"must be > 0, got {value!r}"})
    return seconds


class Hedge(Frozen):
    """Hedged requests: another copy of a request whose response has not come ``after`` its first accepted publish.

    ``after`` is a duration, or ``p50`` … ``p999``: that percentile of the response times of this
    producer's last 1,000 responses (no hedge until ``min_samples`` have been seen), as "The Tail
    at Scale" advises (hedge after the 95th-percentile expected latency). ``copies`` is how many
    copies may be in flight, the original included (gRPC's ``maxAttempts``); each further copy
    goes ``after`` the previous one. The first response wins; with ``cancel`` (the default, as
    gRPC does) the other copies are cancelled: one still waiting in the queue is dropped when a
    worker takes it (a worker already on it finishes it); without it they run to the end.
    """

    after: Annotated[float | str, BeforeValidator(_hedge_after)]
    copies: Int = Field(2, ge=2, le=5)
    cancel: bool = True
    min_samples: Int = Field(20, ge=1)

    @model_validator(mode="after")
    def _known_percentile(self) -> Hedge:
        if isinstance(self.after, str) and not HEDGE_PERCENTILE.match(self.after):
            fail("Hedge", [(("after",), f"a duration (50ms) or a percentile p50, p75, p90, p95, p99 or p999; got {self.after!r}")], self.after)
        return self

    @property
    def quantile(self) -> float | None:
        """The percentile as a quantile (``p95`` → 0.95, ``p999`` → 0.999), None for a fixed delay."""
        if not isinstance(self.after, str):
            return None
        digits = self.after[1:]
        return int(digits) / float(10 ** len(digits))

    @property
    def delay(self) -> float | None:
        """The fixed delay in seconds, None for a percentile."""
        return None if isinstance(self.after, str) else float(self.after)


def closed_rate(users: int, think_mean: float) -> float:
    """Requests per second a closed population of ``users`` sends if every response were instant: users / mean think time."""
    return math.inf if think_mean == 0 else users / think_mean
