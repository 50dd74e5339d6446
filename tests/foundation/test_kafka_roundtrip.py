"""A generated Protobuf message goes through the real broker and comes back equal."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import event_pb2, money_pb2


def test_generated_message_round_trips_through_the_broker(kafka_bootstrap: str, unique_name: str) -> None:
    topic = f"{unique_name}.roundtrip"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=15)

    sent = event_pb2.EventMetadata(
        event_id="5f0c7c1e-0000-4000-8000-000000000001",
        occurred_at=Timestamp(seconds=1_790_000_000, nanos=5),
        aggregate_id="order-1", correlation_id="order-1", producer="ordering", aggregate_version=3,
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=sent.aggregate_id.encode(), value=sent.SerializeToString())
    assert producer.flush(15) == 0

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": unique_name,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        message = None
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(1.0)
            if polled is not None and polled.error() is None:
                message = polled
        assert message is not None, "nothing consumed within 30 s"
        value = message.value()
        assert value is not None
        received = event_pb2.EventMetadata.FromString(value)
        assert received == sent
        assert message.key() == b"order-1"
        # a second generated type from another file of the same module decodes too
        assert money_pb2.Money.FromString(money_pb2.Money(amount_minor=1999, currency="EUR")
                                          .SerializeToString()).amount_minor == 1999
    finally:
        consumer.close()
