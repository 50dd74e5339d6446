"""The real Apache Kafka broker, fetched from Maven Central and run as a single KRaft node."""

from tools.kafka.launcher import KafkaBroker, fetch_jars

__all__ = ["KafkaBroker", "fetch_jars"]
