"""confluent-kafka's own SchemaRegistryClient, ProtobufSerializer and ProtobufDeserializer, with
default settings, against our registry: every event type of the project goes through the real
broker and comes back equal, its imports registered as references on the way."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.runtime.bus import envelope_class
from services.runtime.topic_map import load as load_topics

ROOT = Path(__file__).resolve().parents[2]
TOPICS = load_topics()


def fill(msg: Any, depth: int = 0) -> Any:
    """Give every field a non-default value (one member of each oneof), so nothing hides in defaults."""
    for field in msg.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.fields[0] is not field:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 3:
                continue
            if field.message_type.GetOptions().map_entry:
                key_field, value_field = field.message_type.fields
                key = _scalar(key_field)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    fill(getattr(msg, field.name)[key], depth + 1)
                else:
                    getattr(msg, field.name)[key] = _scalar(value_field)
            elif field.is_repeated:
                fill(getattr(msg, field.name).add(), depth + 1)
            else:
                fill(getattr(msg, field.name), depth + 1)
        elif field.is_repeated:
            getattr(msg, field.name).append(_scalar(field))
        else:
            setattr(msg, field.name, _scalar(field))
    return msg


def _scalar(field: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-é"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"\x00\xff"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5
    return 7


def events_of(topic: str) -> list[Any]:
    spec = TOPICS[topic]
    cls = envelope_class(spec.envelope)
    found = []
    for event in spec.events:
        envelope = cls()
        fill(envelope.metadata)
        fill(getattr(envelope, event))
        assert envelope.WhichOneof("event") == event
        found.append(envelope)
    return found


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_event_round_trips_through_the_broker(topic: str, kafka_bootstrap: str, schema_registry_url: str,
                                                    unique_name: str) -> None:
    name = f"{unique_name}.{topic}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(15)
    cls = envelope_class(TOPICS[topic].envelope)
    writer = ProtobufSerializer(cls, SchemaRegistryClient({"url": schema_registry_url}))
    reader = ProtobufDeserializer(cls, None, SchemaRegistryClient({"url": schema_registry_url}))
    context = SerializationContext(name, MessageField.VALUE)
    sent = events_of(topic)

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for event in sent:
        producer.produce(name, value=writer(event, context))
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": unique_name,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([name])
    received: list[Message] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            polled = consumer.poll(0.5)
            if polled is not None and polled.error() is None:
                received.append(reader(polled.value(), context))
    finally:
        consumer.close()
    assert received == sent

    # The subject follows topic naming; the envelope's imports were registered as references.
    registered = SchemaRegistryClient({"url": schema_registry_url}).get_latest_version(f"{name}-value")
    imports = [d for d in cls.DESCRIPTOR.file.dependencies if not d.name.startswith("google/")]
    assert [r.name for r in (registered.schema.references or [])] == [d.name for d in imports]
    assert all(r.subject == r.name for r in registered.schema.references or [])


def test_text_and_serialized_forms_of_a_schema_share_one_id(http: httpx.Client, sr_client: SchemaRegistryClient,
                                                            unique_name: str) -> None:
    cls = envelope_class(TOPICS["ordering.orders.v1"].envelope)
    context = SerializationContext(f"{unique_name}.orders", MessageField.VALUE)
    ProtobufSerializer(cls, sr_client)(events_of("ordering.orders.v1")[0], context)
    by_client = sr_client.get_latest_version(f"{unique_name}.orders-value")

    text = (ROOT / "schemas" / "ordering" / "v1" / "events.proto").read_text()
    refs = [r.to_dict() for r in by_client.schema.references or []]
    r = http.post(f"/subjects/{unique_name}.by-hand/versions",
                  json={"schemaType": "PROTOBUF", "schema": text, "references": refs})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == by_client.schema_id

    as_text = http.get(f"/schemas/ids/{by_client.schema_id}").json()
    assert as_text["schemaType"] == "PROTOBUF"
    assert as_text["schema"].startswith('syntax = "proto3";\npackage ordering.v1;')
    assert "message OrderEvent {" in as_text["schema"]
    serialized = http.get(f"/schemas/ids/{by_client.schema_id}", params={"format": "serialized"}).json()
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized["schema"]))
    assert fdp.message_type[0].name == "OrderEvent"
    assert {r["name"] for r in refs} <= set(fdp.dependency)


def test_client_reads_subjects_versions_and_config(sr_client: SchemaRegistryClient, unique_name: str) -> None:
    cls = envelope_class(TOPICS["stocking.levels.v1"].envelope)
    ProtobufSerializer(cls, sr_client)(events_of("stocking.levels.v1")[0],
                                       SerializationContext(unique_name, MessageField.VALUE))
    subject = f"{unique_name}-value"
    assert subject in sr_client.get_subjects()
    assert sr_client.get_versions(subject) == [1]
    latest = sr_client.get_latest_version(subject)
    assert sr_client.lookup_schema(subject, latest.schema).schema_id == latest.schema_id
    assert sr_client.get_compatibility() in ("BACKWARD", "NONE", "FULL", "FORWARD", "BACKWARD_TRANSITIVE",
                                             "FORWARD_TRANSITIVE", "FULL_TRANSITIVE")
    assert sr_client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert sr_client.get_compatibility(subject) == "FULL"
    assert sr_client.test_compatibility(subject, latest.schema) is True
    assert sr_client.get_schema_types() == ["PROTOBUF"]
    assert sr_client.delete_subject(subject) == [1]
    assert sr_client.delete_subject(subject, permanent=True) == [1]
    assert subject not in sr_client.get_subjects()
