"""Fetch, format, start and stop a single-node Apache Kafka 4.x (combined broker and controller).

The jars come from Maven Central through `mvn` (tools/kafka/pom.xml lists them) into a cache
outside the repository, keyed by the pom's hash so a version bump fetches afresh. `make up`, the
test suites and CI all use this one launcher.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tools.processes import fail, port_is_free, spawn, stop

POM = Path(__file__).with_name("pom.xml")
LOG4J2_CONFIG = Path(__file__).with_name("log4j2.properties")
READY_TOPIC = "_launcher.ready"


def cache_dir() -> Path:
    return Path(os.environ.get("SHOP_CACHE_DIR", Path.home() / ".cache" / "shop-platform"))


def jars_dir() -> Path:
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"kafka-{digest}" / "libs"


def fetch_jars(quiet: bool = True) -> Path:
    """Download the broker's jars once; later calls return the cached folder at once."""
    libs = jars_dir()
    done_marker = libs / ".complete"
    if done_marker.exists():
        return libs
    if shutil.which("mvn") is None:
        fail("kafka: Maven ('mvn') is not on PATH; install it (apt-get install maven) to fetch the broker")
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        "mvn", "-B", "-f", str(POM), f"-Dmaven.repo.local={cache_dir() / 'm2'}",
        "dependency:copy-dependencies", f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]
    if quiet:
        cmd.insert(1, "-q")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"kafka: fetching the broker jars with Maven failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    done_marker.touch()
    return libs


def _cluster_id() -> str:
    # KRaft wants a base64url UUID without padding, as `kafka-storage random-uuid` prints. Like Kafka's
    # Uuid.randomUuid, never one starting with "-": the storage tool would take it for an option.
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


@dataclass
class KafkaBroker:
    """A broker whose data and logs live under run_dir. Use as a context manager or start()/stop()."""

    run_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kafka-server.log"  # written by log4j2, see log4j2.properties

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            "java", f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dkafka.logs.dir={self.run_dir}", "-cp", f"{fetch_jars()}/*", main_class, *args,
        ]

    def _write_config(self) -> Path:
        config = self.run_dir / "server.properties"
        config.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.run_dir / 'data'}",
            "num.partitions=3",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=10",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.backoff.ms=1000",
            "",
        ]))
        return config

    def _format_storage(self, config: Path) -> None:
        # Formatting is once per data folder: a restarted broker keeps its topics.
        if (self.run_dir / "data" / "meta.properties").exists():
            return
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            fail(f"kafka: formatting storage failed: {(result.stdout + result.stderr).strip()[-2000:]}")

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        for port in (self.port, self.controller_port):
            if not port_is_free(port):
                fail(f"kafka: port {port} on 127.0.0.1 is already in use (another broker?); "
                     f"stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT to free ports")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._format_storage(config)
        self.process = spawn(self._java("kafka.Kafka", str(config)), self.run_dir / "kafka.stdout.log")
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        # Ready means a client can create a topic, not merely that the port is open.
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _silent_logger()})
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                self.stop()
                fail(f"kafka: the broker exited with code {self.process.returncode} during start-up; "
                     f"see {self.log_file}")
            try:
                future = admin.create_topics([NewTopic(READY_TOPIC, 1, 1)], operation_timeout=5)[READY_TOPIC]
                future.result(timeout=5)
                return
            except KafkaException as exc:
                if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                    return
                last_error = exc.args[0].str()
            except Exception as exc:  # timeouts while the broker is still booting
                last_error = str(exc) or type(exc).__name__
            time.sleep(0.3)
        self.stop()
        fail(f"kafka: the broker was not ready after {timeout:.0f}s ({last_error}); see {self.log_file}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace_seconds=30)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _silent_logger():  # librdkafka would print connection refusals while the broker boots
    import logging

    logger = logging.getLogger("tools.kafka.admin")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
