"""Ending a process that can no longer do its job, so that its supervisor starts a fresh one.

librdkafka's transactional calls can block far past the timeout they are given (librdkafka #5456:
send_offsets_to_transaction ignores its timeout; #5511: a cached coordinator that is gone). A
committer stuck there holds every write of the service, while the process looks alive. `deadline`
puts a watchdog thread around such a call: past the deadline the process is ended with a line
saying what hung. Ending it is safe: nothing of the open transaction is visible (read_committed),
the next instance fences this one's transactional id and rebuilds its stores from the changelog.

The same goes for a process that was fenced (another instance took its transactional or static
member id): its store no longer follows the changelog, so it must not answer another read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

from confluent_kafka import KafkaError

log = logging.getLogger(__name__)

# Exit codes a supervisor (tools/supervisor.py) and a person reading its line can tell apart.
EXIT_FATAL_KAFKA = 70  # fenced by a newer instance, or a producer/consumer Kafka calls fatal
EXIT_HUNG = 75  # a Kafka call did not return by its deadline, or a shutdown outlived its grace period

# How long past a call's own timeout we wait before calling it hung: librdkafka returns a timeout a
# little late on a loaded machine; a hung call never returns.
MARGIN_SECONDS = 10.0


def fatal(reason: str, code: int) -> NoReturn:
    """Log why and end the process at once: no shutdown hook runs, since one may block on the same
    hung call. Health stops answering with the process, which a health check reads as not serving."""
    log.critical("exiting with code %d: %s", code, reason, extra={"exit_code": code})
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def deadline(what: str, timeout: float) -> Iterator[None]:
    """Run the block (a blocking Kafka call given `timeout`) under a watchdog: if it has not
    returned MARGIN_SECONDS after its own timeout, the process exits with EXIT_HUNG."""
    limit = timeout + MARGIN_SECONDS
    timer = threading.Timer(limit, fatal, (f"{what} did not return within {limit:g} s (its timeout was "
                                           f"{timeout:g} s): Kafka client wedged, restarting", EXIT_HUNG))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def is_fatal(error: KafkaError) -> bool:
    # A fenced static consumer reports code _FATAL with fatal() False (confluent-kafka-python #869).
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


def exit_if_fatal(source: str, error: KafkaError | None) -> None:
    """End the process on a fatal Kafka error (fenced by a newer instance, static member id taken
    over). A consumer gets those as the error of a polled message; a producer through `error_cb`."""
    if error is not None and is_fatal(error):
        fatal(f"{source}: fatal Kafka error: {error.str()}", EXIT_FATAL_KAFKA)


def on_kafka_error(source: str) -> Callable[[KafkaError], None]:
    """An `error_cb`: a fatal error ends the process; others are transient and only logged at debug
    level, as librdkafka retries them itself and logs them on its own."""
    def error_cb(error: KafkaError) -> None:
        exit_if_fatal(source, error)
        log.debug("%s: Kafka error (retried by the client): %s", source, error)

    return error_cb
