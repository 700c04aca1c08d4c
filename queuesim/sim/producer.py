"""Producers: open-loop clients that create requests and publish them, with the client behaviour around each publish.

Arrivals chain one event to the next (no process per message); a refused publish schedules its
own retry after the backoff, so retries never delay the next arrival, as with real clients.
Code run once per request or publish attempt reads SimPy's ``env._now``: the public ``env.now`` is
a property, about 35 ns more per read, a few percent of a message's whole cost.

Client behaviour, each optional:

- a token bucket (``rate_limit``) every publish attempt must pass; an attempt that finds it empty
  ends the request at the client (throttled, settled as gave up, never retried);
- ``Retry-After`` on a 503: the retry waits max(backoff, Retry-After);
- ``timeout``: without ``retry.on_timeout`` it is the client's overall deadline from creation
  (backoff included); a client still without its answer at the deadline abandons the request.
  A client still retrying 503s stops (the request gives up); work already accepted runs on;
- ``await_result`` / ``sync``: the client waits for its response, which arrives when the
  request's first-stage task ends (plus ``result_latency`` for a result store); with
  ``retry.on_timeout`` each attempt waits at most ``timeout`` from its accepted publish, then the
  client publishes a new copy after the backoff (the abandoned copy still runs: the retry storm's
  extra work), until ``retry.attempts`` publishes have been made in all;
- ``patience``: how long, from its accepted publish, the client waits for its request to *start*
  service (drawn per accepted publish). A request still waiting at that deadline reneges: it
  leaves the queue unserved (the queue keeps the deadlines, :meth:`Broker.renege_at`), and the
  client has abandoned it. Unlike ``timeout``, no work is left behind.

Resilience, each optional, in modules of their own that the producer calls at a few points:

- ``retry.budget`` (:mod:`queuesim.sim.retry_budget`): asked before each retry (after a 503 or a
  timeout); a refused retry ends the request as a 503 out of attempts does (gave up), or, after a
  timeout, as an abandonment;
- ``breaker`` (:mod:`queuesim.sim.breaker`): asked before each publish attempt, after the rate
  limit; a refused attempt ends the request at once (short-circuited, never retried); told the
  result of each call: a fire-and-forget publish at once, a waiting client's attempt at its
  response or timeout;
- ``hedge`` (:mod:`queuesim.sim.hedge`): further copies of a slow request for clients that wait;
- ``max_in_flight`` and ``users`` (:mod:`queuesim.sim.users`): a request starts only when a slot
  is free, and a slot frees when the request ends for its client: its response, abandonment or
  give-up for a client that waits, the end of all its work for a fire-and-forget one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from heapq import heappush
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import NORMAL, Timeout

from queuesim.records import Outcome
from queuesim.scenario.resilience import Hedge
from queuesim.sim import arrivals
from queuesim.sim.breaker import Breaker
from queuesim.sim.broker import Broker
from queuesim.sim.hedge import Hedger
from queuesim.sim.kernel import after
from queuesim.sim.ratelimit import TokenBucket
from queuesim.sim.recorder import Recorder
from queuesim.sim.retry import backoff_delay
from queuesim.sim.retry_budget import RetryBudget, build_budget
from queuesim.sim.rng import ExponentialSampler, component_rng, stream, uniform_stream
from queuesim.sim.users import Gate, Users

if TYPE_CHECKING:
    from queuesim.scenario import Scenario

_COMPLETED, _GAVE_UP, _RENEGED = int(Outcome.COMPLETED), int(Outcome.GAVE_UP), int(Outcome.RENEGED)  # hot path: plain ints
_SHORT_CIRCUITED, _CANCELLED = int(Outcome.SHORT_CIRCUITED), int(Outcome.CANCELLED)

#: ``(time, count)`` arrival instants of an extra arrival source (see :mod:`queuesim.sim.arrivals`).
Arrivals = Iterator[tuple[float, int]]


class Producer:
    """One producer: its arrival streams, its target queue, its retry policy and its client settings.

    Parameters
    ----------
    interarrival : callable or None
        Gaps of the constant-rate or renewal arrival stream (the original, bit-stable path);
        None when the arrivals come only from ``sources``.
    sources : sequence of Arrivals
        Further arrival streams (time-varying rates, batch jobs, trace replay).
    retry_after : float or None
        Retry-After of the target's 503s, when the client honours it.
    limiter : TokenBucket or None
    timeout : float or None
    per_try : bool
        ``retry.on_timeout``: ``timeout`` applies to each accepted attempt, which is retried.
    await_result, sync : bool
        Whether the client waits for a response (through a result store, or inline).
    result_latency : callable or None
        Draws the result store's delay (None: the result is there as the task ends).
    patience : callable or None
        Draws how long the client waits, from an accepted publish, for the work to start.
    breaker : Breaker or None
    budget : RetryBudget or None
    hedge : Hedge or None
        The hedging policy (clients that wait only).
    max_in_flight : int or None
        At most this many requests in flight; later ones wait in the client.
    users : (int, callable) or None
        A closed population: how many users, and their think-time draws.
    """

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        target: Broker,
        interarrival: Callable[[], float] | None,
        until: float,
        attempts: int,
        backoff: tuple[str, float, float, float],
        uniform: Callable[[], float],
        rec: Recorder,
        *,
        sources: tuple[Arrivals, ...] = (),
        retry_after: float | None = None,
        limiter: TokenBucket | None = None,
        timeout: float | None = None,
        per_try: bool = False,
        await_result: bool = False,
        sync: bool = False,
        result_latency: Callable[[], float] | None = None,
        patience: Callable[[], float] | None = None,
        breaker: Breaker | None = None,
        budget: RetryBudget | None = None,
        hedge: Hedge | None = None,
        max_in_flight: int | None = None,
        users: tuple[int, Callable[[], float]] | None = None,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.target = target
        self.interarrival = interarrival
        self.until = until
        self.attempts = attempts
        self.jitter, self.base, self.multiplier, self.cap = backoff
        self.uniform = uniform
        self.rec = rec
        self.m_attempts = rec.messages["attempts"]
        self.m_request = rec.messages["request"]
        self.m_receives = rec.messages["receives"]
        self.patience = patience
        self.r_created = rec.requests["created"]
        self.r_responded = rec.requests["responded"]
        self.r_abandoned = rec.requests["abandoned"]
        self.r_throttled = rec.requests["throttled"]
        self.sources = sources
        self.retry_after = retry_after
        self.limiter = limiter
        self.timeout = timeout
        self.sync = sync
        self.result_latency = None if sync else result_latency
        waits = await_result or sync
        self.per_try = bool(per_try and waits and timeout is not None)
        # the overall deadline from creation (retry backoffs count), unless timeouts are per attempt
        self.deadline_after = timeout if timeout is not None and not self.per_try else None
        # requests whose client still waits: request -> its live stage-0 message (-1 between copies)
        self.live: dict[int, int] | None = {} if waits else None
        # per_try: publish attempts spent by earlier copies, and the last timeout backoff
        self.spent: dict[int, tuple[int, float]] | None = {} if self.per_try else None
        self.deadlines: deque[tuple[float, int, int]] | None = deque() if waits and timeout is not None else None
        self.armed = False
        self.r_deadline = rec.requests["deadline"]
        # client resilience: None (and `guarded` False) when the producer uses none of it
        self.breaker = breaker
        self.budget = budget
        self.hedger = Hedger(env, hedge, self._hedge) if hedge is not None and waits else None
        self.gate = Gate(max_in_flight, self._start, self._still_wanted) if max_in_flight is not None else None
        self.users: Users | None = None
        if users is not None:  # a user's next request waits for the last one: a gate of `users` slots
            count, think = users
            self.users = Users(env, count, think, self._create, until)
            self.gate = Gate(count, self._start, self._still_wanted)
        self.guarded = any(x is not None for x in (breaker, budget, self.hedger, self.gate))
        # a fire-and-forget client that only publishes, retrying 503s: the short arrival path
        self.plain = not self.guarded and self.live is None and limiter is None and patience is None
        self.active: set[int] = set()  # guarded: requests not yet ended for their client
        self.calls: dict[int, int] = {}  # breaker: request -> epoch of its call still awaiting a result
        self.r_budget_refused = rec.requests["budget_refused"]
        self.r_hedges = rec.requests["hedges"]
        self.r_hedge_won = rec.requests["hedge_won"]

    def held(self) -> Mapping[int, int]:
        """Requests whose client still waits, each with the message it waits for (-1 between copies)."""
        return self.live if self.live is not None else {}

    @property
    def watches(self) -> bool:
        """Whether the recorder must report this producer's settled messages (a client waits for them)."""
        return self.live is not None

    @property
    def work_watched(self) -> bool:
        """Whether the recorder must report the end of this producer's requests (a fire-and-forget client with a gate)."""
        return self.gate is not None and self.live is None

    def start(self) -> None:
        if self.interarrival is not None:
            self._schedule_next()
        for source in self.sources:
            self._next_from(source)
        if self.users is not None:
            self.users.start()

    # -- arrivals -------------------------------------------------------------------------------
    def _schedule_next(self) -> None:
        delay = self.interarrival()  # type: ignore[misc]
        if self.env._now + delay < self.until:
            after(self.env, delay, self._arrive_plain if self.plain else self._arrive)

    def _arrive_plain(self) -> None:
        """:meth:`_arrive` for a client with none of the options above (most of them): fewer calls per request.

        The same records in the same order: the attempt, the publish (a 503 retried after the
        backoff), then the next arrival's timer.
        """
        rec = self.rec
        env = self.env
        now = env._now
        message = rec.new_root(self.index, self.target.index, now)
        self.m_attempts[message] = 1
        if not self.target.publish(message):
            self._refused(message, 1, self.base)
        delay = self.interarrival()  # type: ignore[misc]
        if now + delay < self.until:
            heappush(env._queue, (now + delay, NORMAL, next(env._eid), self._arrive_plain))  # type: ignore[misc]  # kernel.after, inlined

    def _arrive(self) -> None:
        self._create(self.env._now)
        self._schedule_next()

    def _next_from(self, source: Arrivals) -> None:
        step = next(source, None)
        if step is None or not step[0] < self.until:  # also stops on a NaN time
            return
        at, count = step
        Timeout(self.env, max(0.0, at - self.env._now)).callbacks.append(lambda _e: self._burst(source, count))

    def _burst(self, source: Arrivals, count: int) -> None:
        now = self.env._now
        for _ in range(count):
            self._create(now)
        self._next_from(source)

    def _create(self, now: float) -> None:
        message = self.rec.new_root(self.index, self.target.index, now)
        request = self.m_request[message]
        if self.live is not None:
            self._track(request, message, now)
        if self.guarded:
            self._begin(request, message)
        else:
            self._attempt(message, self.base)

    def _track(self, request: int, message: int, now: float) -> None:
        """The client waits for this request's response (and, with a timeout, not forever)."""
        self.live[request] = message  # type: ignore[index]
        if self.deadlines is not None and not self.per_try:
            deadline = now + self.timeout  # type: ignore[operator]
            self.r_deadline[request] = deadline  # propagated with the request (queuesim.sim.screen)
            self._expect(deadline, request, message)

    # -- resilience -----------------------------------------------------------------------------
    def _begin(self, request: int, message: int) -> None:
        """A new request of a guarded producer: it is in flight for its client; start it, or queue it at the gate."""
        self.active.add(request)
        if self.budget is not None:
            self.budget.request_started(request)
        if self.gate is not None:
            self.gate.admit(request, message)
        else:
            self._attempt(message, self.base)

    def _start(self, message: int) -> None:
        """The gate let a request through: its first attempt, unless its client's deadline passed while it queued."""
        if self.deadline_after is not None and self.live is None:
            request = self.m_request[message]
            if self.env.now >= self.r_created[request] + self.deadline_after:
                self._abandon_publish(message)
                return
        self._attempt(message, self.base)

    def _still_wanted(self, request: int, message: int) -> bool:
        """A queued request is worth starting unless its client stopped waiting for it meanwhile."""
        return self.live is None or self.live.get(request) == message

    def _finished(self, request: int, ok: bool) -> None:
        """The request ended for its client, once: with its answer (``ok``) or without (gave up, abandoned)."""
        if request not in self.active:
            return
        self.active.discard(request)
        if self.budget is not None:
            self.budget.request_ended(request, ok)
        if self.gate is not None and self.live is not None:
            self._release(request)

    def work_ended(self, request: int, now: float) -> None:
        """Recorder hook: all the work a fire-and-forget request caused has ended (its user may go on)."""
        self._release(request)

    def _release(self, request: int) -> None:
        assert self.gate is not None
        self.gate.release(request)
        if self.users is not None:
            self.users.release(request)

    def _call_ended(self, request: int, epoch: int | None, failed: bool, now: float) -> None:
        """An attempt has its result: tell the breaker (if it let the call through) and the budget."""
        if epoch is not None and self.breaker is not None:
            self.breaker.record(epoch, failed, now)
        if self.budget is not None:
            self.budget.call_ended(request)

    def _accepted(self, message: int, epoch: int) -> None:
        """A guarded producer's publish was accepted."""
        request = self.m_request[message]
        if self.live is None:  # fire-and-forget: the accepted publish is the call's answer, and the request's
            self._call_ended(request, epoch, False, self.env.now)
            self._finished(request, True)
            return
        if self.breaker is not None:
            self.calls[request] = epoch
        if self.hedger is not None:
            self.hedger.accepted(request, message)

    def _short_circuit(self, message: int) -> None:
        """The breaker is open: the request fails at once, without reaching the broker, and is not retried."""
        now = self.env.now
        self._end(message, now)
        self.rec.settle(message, _SHORT_CIRCUITED, now)

    def _hedge(self, request: int) -> int:
        """One more copy of a slow request (the hedger's ``send``); -1 if the broker refused it (it is dropped)."""
        now = self.env.now
        message = self.rec.new_copy(request, self.target.index, now)
        self.r_hedges[request] += 1
        self.m_attempts[message] = 1
        if self.target.publish(message):
            return message
        self.rec.reject(message, now)
        self.rec.settle(message, _CANCELLED, now)
        return -1

    def _waits_for(self, request: int, message: int) -> bool:
        """Whether the client waits for this message's answer (the request's live copy, or one of its hedges)."""
        live = self.live
        if live is None:
            return False
        return live.get(request) == message or (self.hedger is not None and self.hedger.is_copy(request, message))

    # -- publishing -----------------------------------------------------------------------------
    def _attempt(self, message: int, previous: float) -> None:
        limiter = self.limiter
        if limiter is not None and not limiter.take(self.env._now):
            self._throttle(message)
            return
        epoch = 0
        breaker = self.breaker
        if breaker is not None:
            epoch = breaker.permit(self.env._now)
            if epoch < 0:
                self._short_circuit(message)
                return
        attempt = self.m_attempts[message] + 1
        self.m_attempts[message] = attempt
        if self.target.publish(message):
            patience = self.patience
            if patience is not None:
                self._wait_to_start(message, patience())
            if self.per_try:
                deadline = self.env._now + self.timeout  # type: ignore[operator]
                request = self.m_request[message]
                self.r_deadline[request] = deadline  # the latest copy's deadline (queuesim.sim.screen)
                self._expect(deadline, request, message)
            if self.guarded:
                self._accepted(message, epoch)
            return
        self._refused(message, attempt, previous, epoch)

    def _wait_to_start(self, message: int, wait: float) -> None:
        """The client's patience starts at the accepted publish; a message received at once needs no deadline.

        ``wait`` is drawn for every accepted publish, received at once or not, so the stream stays in step.
        """
        if not self.m_receives[message]:
            self.target.renege_at(message, self.env._now + wait)

    def _refused(self, message: int, attempt: int, previous: float, epoch: int = 0) -> None:
        """A 503: retry after the backoff, or give up (out of attempts, refused by the budget, or past the client's deadline)."""
        now = self.env._now
        self.rec.reject(message, now)
        if self.guarded:
            self._call_ended(self.m_request[message], epoch, True, now)
        if self.spent is not None:
            attempt += self.spent.get(self.m_request[message], (0, 0.0))[0]
        if attempt >= self.attempts:
            self._end(message, now)
            self.rec.settle(message, _GAVE_UP, now)
            return
        if self.budget is not None and not self.budget.allow(self.m_request[message], False):
            self.r_budget_refused[self.m_request[message]] = now
            self._end(message, now)
            self.rec.settle(message, _GAVE_UP, now)
            return
        delay = backoff_delay(self.jitter, attempt, self.base, self.multiplier, self.cap, previous, self.uniform)
        wait = delay
        if self.retry_after is not None and wait < self.retry_after:
            wait = self.retry_after
        if self.deadline_after is not None:
            deadline = self.r_created[self.m_request[message]] + self.deadline_after
            if now + wait >= deadline:  # the client's deadline comes first: it stops retrying
                Timeout(self.env, deadline - now).callbacks.append(lambda _e: self._abandon_publish(message))
                return
        Timeout(self.env, wait).callbacks.append(lambda _e: self._attempt(message, delay))

    def _throttle(self, message: int) -> None:
        now = self.env.now
        self.r_throttled[self.m_request[message]] = now
        self._end(message, now)
        self.rec.settle(message, _GAVE_UP, now)

    def _abandon_publish(self, message: int) -> None:
        now = self.env.now
        request = self.m_request[message]
        if self.r_abandoned[request] != self.r_abandoned[request]:  # NaN: not yet abandoned
            self.r_abandoned[request] = now
        self._end(message, now)
        self.rec.settle(message, _GAVE_UP, now)

    def _end(self, message: int, now: float) -> None:
        """The client gave up (or, sync, had an error answer): it waits no more."""
        request = self.m_request[message]
        if self.live is not None:
            self.live.pop(request, None)
            if self.spent is not None:
                self.spent.pop(request, None)
            if self.hedger is not None:
                self.hedger.forget(request)
        if self.guarded:
            self._finished(request, False)

    # -- responses (clients that wait) ----------------------------------------------------------
    def settled(self, message: int, request: int, outcome: int, now: float) -> None:
        """Recorder hook: one of this producer's stage-0 messages settled."""
        live = self.live
        if live is None or not self._waits_for(request, message):
            return  # not what the client waits for: answered already, abandoned, or a stale copy
        if outcome == _COMPLETED:
            latency = self.result_latency
            if latency is None:
                self._respond(request, message)
            else:
                self._respond_after(latency(), request, message)
        elif outcome == _RENEGED or (outcome != _GAVE_UP and self.sync):
            # the client's own patience ran out, or (sync) the server answered with an error or the
            # connection broke: the client knows at once that this call failed
            if self.hedger is not None and not self.hedger.failed(request, message):
                return  # another copy may still answer
            if self.guarded:
                self._call_ended(request, self.calls.pop(request, None), True, now)
            self._end(message, now)
        # a lost or dead-lettered task sends no result: the client waits until its timeout, if any

    def _respond_after(self, delay: float, request: int, message: int) -> None:
        Timeout(self.env, delay).callbacks.append(lambda _e: self._respond(request, message))

    def _respond(self, request: int, message: int) -> None:
        live = self.live
        assert live is not None
        if self._waits_for(request, message):
            now = self.env._now  # once per response (see the module's note)
            self.r_responded[request] = now
            del live[request]
            if self.spent is not None:
                self.spent.pop(request, None)
            if self.guarded:
                if self.hedger is not None and self.hedger.answered(request, message, now - self.r_created[request]):
                    self.r_hedge_won[request] = 1
                self._call_ended(request, self.calls.pop(request, None), False, now)
                self._finished(request, True)

    # -- timeouts -------------------------------------------------------------------------------
    def _expect(self, deadline: float, request: int, message: int) -> None:
        assert self.deadlines is not None
        self.deadlines.append((deadline, request, message))
        if not self.armed:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        self.armed = True
        Timeout(self.env, max(0.0, deadline - self.env.now)).callbacks.append(self._expire)

    def _expire(self, _event: object) -> None:
        """Deadlines are in time order (one timeout per producer): handle the due ones, skip the answered ones."""
        self.armed = False
        now = self.env.now
        pending = self.deadlines
        live = self.live
        assert pending is not None and live is not None
        while pending:
            deadline, request, message = pending[0]
            if live.get(request) != message:
                pending.popleft()
                continue
            if deadline > now:
                break
            pending.popleft()
            self._timed_out(request, message, now)
        if pending:
            self._arm(pending[0][0])

    def _timed_out(self, request: int, message: int, now: float) -> None:
        live = self.live
        assert live is not None
        if self.guarded:
            self._call_ended(request, self.calls.pop(request, None), True, now)
        if self.spent is not None:
            spent, previous = self.spent.get(request, (0, self.base))
            spent += self.m_attempts[message]
            if spent < self.attempts:
                if self.budget is None or self.budget.allow(request, True):
                    delay = backoff_delay(self.jitter, spent, self.base, self.multiplier, self.cap, previous, self.uniform)
                    self.spent[request] = (spent, delay)
                    live[request] = -1  # between copies: a late result of the abandoned one is ignored
                    Timeout(self.env, delay).callbacks.append(lambda _e: self._copy(request, delay))
                    return
                self.r_budget_refused[request] = now  # the budget refused the retry: the client abandons
            self.spent.pop(request, None)
        self.r_abandoned[request] = now
        del live[request]
        if self.hedger is not None:
            self.hedger.forget(request)
        if self.guarded:
            self._finished(request, False)

    def _copy(self, request: int, previous: float) -> None:
        """Publish a new copy of a request whose previous attempt timed out."""
        assert self.live is not None
        message = self.rec.new_copy(request, self.target.index, self.env.now)
        self.live[request] = message
        self._attempt(message, previous)




# -- wiring -------------------------------------------------------------------------------------
def wire_producers(
    env: Environment,
    scenario: Scenario,
    brokers: dict[str, Broker],
    rec: Recorder,
    seed: int,
    replication: int,
) -> list[Producer]:
    """The live producers of a scenario, each publishing to its target's live broker.

    Random streams: ``producer:<name>:arrivals`` (gaps of a constant rate or interarrival
    distribution, drawn as they always were; the unit hazards of a time-varying rate),
    ``producer:<name>:retry`` (backoff jitter), ``producer:<name>:result`` (result latency) and
    ``producer:<name>:patience`` and ``producer:<name>:think`` (a closed population's think
    times). Records the producers' expected arrivals per second over the window as ``extra["base_load"]`` (for a
    closed population, its throughput bound: :meth:`Scenario.expected_arrivals`).
    """
    producers: list[Producer] = []
    for ri, (rname, p) in enumerate(scenario.producers.items()):
        r = p.retry
        rng = component_rng(seed, replication, f"producer:{rname}:arrivals")
        interarrival: Callable[[], float] | None = None
        sources: list[Arrivals] = []
        if p.rate is not None and p.arrivals == "poisson":
            interarrival = stream(ExponentialSampler(1.0 / p.rate), rng)
        elif p.interarrival is not None:
            interarrival = stream(p.interarrival, rng)
        elif p.rate is not None:
            sources.append(arrivals.regular_rate(p.rate))
        elif p.profile is not None:
            sources.append(arrivals.for_profile(p.profile, p.arrivals, rng))
        elif p.trace is not None:
            sources.append(arrivals.batches(p.trace.times))
        if p.batch is not None:
            sources.append(arrivals.batches(p.batch.times(scenario.duration)))
        queue = scenario.queues[p.to]
        retry_after = getattr(queue, "retry_after", None) if r.respect_retry_after else None
        latency = p.result_latency
        result = None
        if p.await_result and latency is not None and not (latency.mean == 0 and latency.variance == 0):
            result = stream(latency, component_rng(seed, replication, f"producer:{rname}:result"))
        patience = None if p.patience is None else stream(p.patience, component_rng(seed, replication, f"producer:{rname}:patience"))
        users = None
        if p.users is not None and p.think is not None:
            users = (p.users, stream(p.think, component_rng(seed, replication, f"producer:{rname}:think")))
        producers.append(Producer(
            env, ri, rname, brokers[p.to], interarrival,
            scenario.duration, r.attempts, (r.jitter, r.backoff, r.multiplier, r.max_backoff),
            uniform_stream(component_rng(seed, replication, f"producer:{rname}:retry")), rec,
            sources=tuple(sources),
            retry_after=retry_after,
            limiter=TokenBucket(p.rate_limit.rate, p.rate_limit.burst) if p.rate_limit is not None else None,
            timeout=p.timeout,
            per_try=r.on_timeout,
            await_result=p.await_result,
            sync=p.sync,
            result_latency=result,
            patience=patience,
            breaker=Breaker(env, p.breaker) if p.breaker is not None else None,
            budget=build_budget(r.budget),
            hedge=p.hedge,
            max_in_flight=p.max_in_flight,
            users=users,
        ))
    if any(prod.watches for prod in producers):
        rec.watch = [prod.settled if prod.watches else None for prod in producers]
    if any(prod.work_watched for prod in producers):
        rec.request_watch = [prod.work_ended if prod.work_watched else None for prod in producers]
    window = scenario.duration - scenario.warmup
    rec.extra["base_load"] = math.fsum(
        scenario.expected_arrivals(name, scenario.warmup, scenario.duration) for name in scenario.producers
    ) / window
    return producers


__all__ = ["Producer", "Arrivals", "wire_producers"]
