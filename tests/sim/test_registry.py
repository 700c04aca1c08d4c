"""The broker registry: every queue spec the schema accepts maps to one broker class, built from the spec."""

from __future__ import annotations

import typing
from typing import Literal

import pytest
import simpy
from queuesim.sim.kernel import Engine
from queuesim.errors import QueuesimError
from queuesim.scenario.model import QueueBase, RabbitQueue, RedisQueue, SqsQueue
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.direct import DirectBroker
from queuesim.sim.rabbitmq import RabbitBroker
from queuesim.sim.recorder import Recorder
from queuesim.sim.redis import RedisListBroker, RedisPubSubBroker, RedisReliableBroker, RedisStreamBroker
from queuesim.sim.registry import BROKERS, UnknownBrokerKind, broker_class, build_broker, index_brokers
from queuesim.sim.rng import Streams
from queuesim.sim.sqs import SqsBroker, SqsFifoBroker


def queue_specs() -> list[type[QueueBase]]:
    """The members of the scenario's ``Queue`` union, read from the schema itself."""
    from queuesim.scenario.model import Queue

    union = typing.get_args(Queue)[0]
    return list(typing.get_args(union))


def variants(spec: type[QueueBase]) -> list[QueueBase]:
    """One valid spec per value of each of its literal-typed fields (mode, kind, overflow, ack …)."""
    out = [spec()]
    for name, field in spec.model_fields.items():
        if name == "broker" or typing.get_origin(field.annotation) is not Literal:
            continue
        out += [spec.model_validate({name: value}) for value in typing.get_args(field.annotation)]
    return out


def context(name: str = "jobs") -> BrokerContext:
    return BrokerContext(Engine(), Recorder(), 0, name, Streams(0, 0, f"queue:{name}"))


def test_the_schema_has_the_queue_specs_this_file_expects() -> None:
    assert set(queue_specs()) == {RedisQueue, SqsQueue, RabbitQueue}


@pytest.mark.parametrize("spec", [v for s in queue_specs() for v in variants(s)], ids=repr)
def test_every_valid_queue_spec_is_served_by_a_registered_class(spec: QueueBase) -> None:
    kind = broker_class(spec)
    assert kind in BROKERS
    assert kind.serves == (type(spec), spec.broker_mode)
    broker = build_broker(spec, context())
    assert type(broker) is kind and broker.stats().kind == kind.kind


@pytest.mark.parametrize(("spec", "kind"), [
    (RedisQueue(mode="list"), RedisListBroker),
    (RedisQueue(mode="reliable"), RedisReliableBroker),
    (RedisQueue(mode="stream"), RedisStreamBroker),
    (RedisQueue(mode="pubsub"), RedisPubSubBroker),
    (SqsQueue(kind="standard"), SqsBroker),
    (SqsQueue(kind="fifo"), SqsFifoBroker),
    (RabbitQueue(), RabbitBroker),
])
def test_each_spec_maps_to_its_kind(spec: QueueBase, kind: type[Broker]) -> None:
    assert broker_class(spec) is kind


@pytest.mark.parametrize("spec", [RedisQueue(), SqsQueue(kind="fifo"), RabbitQueue(prefetch=50)], ids=repr)
def test_a_queue_served_inline_is_a_direct_backlog_whatever_its_broker(spec: QueueBase) -> None:
    broker = build_broker(spec, context(), inline=True)
    assert type(broker) is DirectBroker
    assert broker.prefetch == 1  # a server handles one request at a time


def test_from_spec_reads_the_kind_specific_fields() -> None:
    rabbit = build_broker(RabbitQueue(prefetch=7, overflow="reject-publish", ack="auto", capacity=3), context())
    assert isinstance(rabbit, RabbitBroker)
    assert (rabbit.prefetch, rabbit.overflow, rabbit.auto_ack, rabbit.capacity) == (7, "reject-publish", True, 3)
    sqs = build_broker(SqsQueue(visibility_timeout=12.0, max_receives=4), context())
    assert isinstance(sqs, SqsBroker)
    assert (sqs.redeliver_after, sqs.limit, sqs.late_delete, sqs.prefetch) == (12.0, 4, True, 1)
    stream = build_broker(RedisQueue(mode="stream", min_idle=9.0, reclaim_after=2.0, persistence="rdb"), context())
    assert isinstance(stream, RedisStreamBroker)
    assert (stream.redeliver_after, stream.requeue_at_head, stream.persistence) == (9.0, True, "rdb")
    reliable = build_broker(RedisQueue(mode="reliable", min_idle=9.0, reclaim_after=2.0), context())
    assert isinstance(reliable, RedisReliableBroker)
    assert (reliable.redeliver_after, reliable.requeue_at_head) == (2.0, False)


def test_zero_latency_schedules_no_event_and_a_latency_draws_from_the_queue_stream() -> None:
    assert build_broker(RedisQueue(), context()).latency is None
    spec = RedisQueue.model_validate({"latency": {"dist": "exponential", "mean": 0.01}})
    a, b = build_broker(spec, context("a")).latency, build_broker(spec, context("a")).latency
    c = build_broker(spec, context("other")).latency
    assert a is not None and b is not None and c is not None
    first = [a() for _ in range(3)]
    assert first == [b() for _ in range(3)]  # keyed by the queue's name: the same draws
    assert first != [c() for _ in range(3)]


def test_an_unregistered_spec_is_a_clear_error() -> None:
    class KafkaQueue(QueueBase):
        broker: Literal["kafka"] = "kafka"

    with pytest.raises(UnknownBrokerKind, match=r"no broker class serves a KafkaQueue \(broker 'kafka', mode None\)") as err:
        broker_class(KafkaQueue())
    assert isinstance(err.value, QueuesimError) and isinstance(err.value, LookupError)
    assert "RedisQueue/list" in str(err.value)  # says what is registered
    assert broker_class(KafkaQueue(), inline=True) is DirectBroker  # inline serves any queue spec


def test_a_mode_without_a_class_is_a_clear_error() -> None:
    class Partitioned(RedisQueue):
        @property
        def broker_mode(self) -> str:
            return "cluster"

    with pytest.raises(UnknownBrokerKind, match="mode 'cluster'"):
        broker_class(Partitioned())


def test_a_broker_built_from_the_wrong_spec_says_so() -> None:
    with pytest.raises(TypeError, match="SqsBroker is built from a SqsQueue, not a RedisQueue"):
        SqsBroker.from_spec(RedisQueue(), context())


def test_the_index_refuses_two_classes_for_one_spec_and_a_class_serving_nothing() -> None:
    class Twin(SqsBroker):
        pass  # inherits serves = (SqsQueue, "standard")

    with pytest.raises(TypeError, match="Twin and SqsBroker both serve SqsQueue mode 'standard'"):
        index_brokers([SqsBroker, Twin])
    with pytest.raises(TypeError, match="Broker does not say which queue spec it serves"):
        index_brokers([Broker])


def test_a_subclass_of_a_spec_finds_its_base_class_kind() -> None:
    class TunedSqs(SqsQueue):
        pass

    assert broker_class(TunedSqs(kind="fifo")) is SqsFifoBroker
