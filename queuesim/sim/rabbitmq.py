"""RabbitMQ-like queues (AMQP 0-9-1): manual acks, prefetch, requeue, overflow and delivery limits.

With manual acks a delivery stays unacknowledged until the consumer acks it; a nack requeues it
at once (at the head), and when a consumer's connection closes (a crash, a broker restart) every
message it held is requeued with the redelivered flag. ``consumer_timeout`` (30 min by default)
closes the channel of a consumer that holds a delivery longer. A bounded queue drops its oldest
message when full (``drop-head``, the default) or refuses the publish (``reject-publish``).
Queues are durable and messages persistent: a restart loses nothing but requeues every unacked
delivery. With ``ack: auto`` a delivery is final: lost if its consumer dies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Self

from simpy import Environment

from queuesim.records import Delivery, Loss
from queuesim.scenario.model import QueueBase, RabbitQueue
from queuesim.sim.broker import NO_EXPIRY, Broker, BrokerContext, Expiry, Held, spec_as
from queuesim.sim.recorder import Recorder
from queuesim.sim.redelivery import AtLeastOnce

_DONE = int(Delivery.DONE)


class RabbitBroker(AtLeastOnce):
    """A RabbitMQ classic or quorum queue (``delivery_limit`` set: quorum-style dead-lettering)."""

    kind = "rabbitmq"
    serves = (RabbitQueue, None)

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        *,
        overflow: str = "drop-head",
        delivery_limit: int | None = None,
        auto_ack: bool = False,
        consumer_timeout: float = 1800.0,
        prefetch: int = 10,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        super().__init__(
            env, index, name, capacity, latency, rec,
            redeliver_after=None if auto_ack else consumer_timeout,
            limit=delivery_limit,
            requeue_at_head=True,
            requeue_on_nack=True,
            requeue_on_disconnect=True,
            expiry=expiry,
        )
        self.overflow = overflow
        self.auto_ack = auto_ack
        self.prefetch = prefetch

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, RabbitQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   overflow=q.overflow, delivery_limit=q.delivery_limit, auto_ack=q.ack == "auto",
                   consumer_timeout=q.consumer_timeout, prefetch=q.prefetch, expiry=Expiry.from_spec(q))

    def _make_room(self) -> bool:
        if self.overflow != "drop-head":
            return False  # reject-publish: the publisher gets a nack, our 503
        return self.drop_oldest(Loss.OVERFLOW)  # False when all is in transit: refuse

    # auto-ack: the delivery is final, exactly as a Redis list pop
    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.auto_ack:
            return True
        return super()._admit(message, since, now)

    def ack(self, message: int, receipt: int) -> int:
        return _DONE if self.auto_ack else super().ack(message, receipt)

    def nack(self, message: int, receipt: int, reason: Loss) -> None:
        if self.auto_ack:
            Broker.nack(self, message, receipt, reason)
        else:
            super().nack(message, receipt, reason)

    def consumer_lost(self, held: Iterable[Held]) -> None:
        if self.auto_ack:
            Broker.consumer_lost(self, held)
        else:
            super().consumer_lost(held)
