"""A small harness that builds engine components directly (no scenario) and reads their delivery log."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
import simpy
from queuesim.sim.kernel import Engine
from queuesim.records import Delivery
from queuesim.scenario.model import QueueBase, ServicePer
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.recorder import Recorder
from queuesim.sim.registry import build_broker
from queuesim.sim.rng import Streams
from queuesim.sim.worker import Pool
from queuesim.sim.worker_faults import Faults
from simpy.events import Timeout

Row = tuple[int, int, float, float | None, str]


class Harness:
    """One environment and recorder; brokers from specs, pools on them, publishes at given times."""

    def __init__(self) -> None:
        self.env = Engine()
        self.rec = Recorder()
        self.queues = 0
        self.workers = 0

    def broker(self, spec: QueueBase, *, inline: bool = False, restart_scheduled: bool = False) -> Broker:
        name = f"q{self.queues}"
        ctx = BrokerContext(self.env, self.rec, self.queues, name, Streams(0, 0, f"queue:{name}"),
                            restart_scheduled=restart_scheduled)
        self.queues += 1
        return build_broker(spec, ctx, inline=inline)

    def pool(self, upstream: Broker, *, service: float | Sequence[float] = 1.0, count: int = 1,
             faults: Faults | None = None, service_per: ServicePer = "message",
             overhead: float | None = None) -> Pool:
        """A pool on ``upstream``: a constant service time, or these service draws in turn; a constant overhead."""
        draw = (lambda: service) if isinstance(service, float | int) else iter(service).__next__
        pool = Pool(self.env, 0, "pool", self.workers, count, upstream, draw, None, 1, self.rec,
                    faults=faults, service_per=service_per,
                    overhead=None if overhead is None else (lambda: overhead))
        self.workers += count
        pool.start()
        return pool

    def publish(self, broker: Broker, *times: float) -> None:
        """A producer-less publish at each time (one request per message)."""
        for t in times:
            Timeout(self.env, t).callbacks.append(self._publisher(broker))

    def _publisher(self, broker: Broker) -> Callable[[object], None]:
        def publish(_event: object) -> None:
            now = self.env.now
            message = self.rec.new_root(0, broker.index, now)
            self.rec.messages["attempts"][message] = 1
            broker.publish(message)

        return publish

    def at(self, t: float, action: Callable[[], object]) -> None:
        Timeout(self.env, t).callbacks.append(lambda _e: action())

    def run(self, until: float) -> None:
        self.env.run(until=until)

    def log(self) -> list[Row]:
        d = self.rec.deliveries
        rows = [(d["message"][i], d["worker"][i], d["since"][i], d["until"][i], d["status"][i]) for i in range(d.n)]
        return [(m, w, s, None if math.isnan(u) else u, Delivery(st).name) for m, w, s, u, st in rows]


@pytest.fixture
def harness() -> Harness:
    return Harness()
