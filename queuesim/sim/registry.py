"""The broker registry: which live broker class serves each queue spec, and the one factory that builds it.

A broker kind declares what it ``serves``: a queue spec class and one value of that spec's
``broker_mode`` (Redis ``mode``, SQS ``kind``; None for a spec with one mode). A spec finds its
class through its own class, then its bases, so :class:`~queuesim.sim.direct.DirectBroker`,
registered for :class:`~queuesim.scenario.model.QueueBase` in the ``inline`` mode, serves any
queue that a ``sync: true`` producer targets. A new broker kind is its spec in
``scenario/model.py``, its class, and one entry in :data:`BROKERS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from queuesim.errors import QueuesimError
from queuesim.scenario.model import QueueBase
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.direct import INLINE, DirectBroker
from queuesim.sim.rabbitmq import RabbitBroker
from queuesim.sim.redis import (
    RedisCeleryBroker,
    RedisListBroker,
    RedisPubSubBroker,
    RedisReliableBroker,
    RedisStreamBroker,
)
from queuesim.sim.sqs import SqsBroker, SqsFifoBroker

Key = tuple[type, str | None]  # (a queue spec class or one of its bases, broker_mode)


class UnknownBrokerKind(QueuesimError, LookupError):
    """No registered broker class serves a queue spec (its class and ``broker_mode``)."""


#: Every broker kind the engine can build.
BROKERS: tuple[type[Broker], ...] = (
    RedisListBroker,
    RedisReliableBroker,
    RedisStreamBroker,
    RedisPubSubBroker,
    RedisCeleryBroker,
    SqsBroker,
    SqsFifoBroker,
    RabbitBroker,
    DirectBroker,
)


def index_brokers(kinds: Iterable[type[Broker]]) -> dict[Key, type[Broker]]:
    """Key each broker class by what it ``serves``; two classes serving one key is an error."""
    found: dict[Key, type[Broker]] = {}
    for kind in kinds:
        key = kind.serves
        if key is None:
            raise TypeError(f"{kind.__name__} does not say which queue spec it serves (`serves`)")
        if key in found:
            raise TypeError(f"{kind.__name__} and {found[key].__name__} both serve {key[0].__name__} mode {key[1]!r}")
        found[key] = kind
    return found


_BY_KEY = index_brokers(BROKERS)


def broker_class(spec: QueueBase, *, inline: bool = False) -> type[Broker]:
    """The broker kind that serves a queue spec.

    Parameters
    ----------
    spec : QueueBase
        A validated queue spec.
    inline : bool
        The queue is a ``sync: true`` producer's target: its pool serves requests directly.

    Raises
    ------
    UnknownBrokerKind
        When no registered class serves the spec's class (or a base) in its mode.
    """
    mode = INLINE if inline else spec.broker_mode
    for cls in type(spec).__mro__:
        kind = _BY_KEY.get((cls, mode))
        if kind is not None:
            return kind
    known = ", ".join(sorted(f"{c.__name__}/{m}" for c, m in _BY_KEY))
    raise UnknownBrokerKind(
        f"no broker class serves a {type(spec).__name__} (broker {spec.broker!r}, mode {mode!r}); "
        f"registered: {known}. Add one to queuesim.sim.registry.BROKERS"
    )


def build_broker(spec: QueueBase, ctx: BrokerContext, *, inline: bool = False) -> Broker:
    """The live broker of one queue: its registered kind built from its spec (see :func:`broker_class`)."""
    return broker_class(spec, inline=inline).from_spec(spec, ctx)


__all__ = ["BROKERS", "Key", "UnknownBrokerKind", "broker_class", "build_broker", "index_brokers"]
