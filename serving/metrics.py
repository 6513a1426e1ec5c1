"""Prometheus metrics of the service, made when first used, and the `/metrics` exposition.

The service serves /metrics itself (BentoML's own request metrics label every raw path, so
random paths would grow them without bound; they are off). The metrics live in a registry of
their own, read straight from the worker's memory: the service runs one worker, and this does
not depend on BentoML's multiprocess folder surviving.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
_registered: set[type] = set()
_registering = threading.Lock()


@dataclass(frozen=True)
class Counters:
    """What the service counts."""

    predictions: Counter
    alerts: Counter
    requests: Counter
    latency: Histogram


@functools.cache
def counters() -> Counters:
    """The service's counters (one set per process)."""
    return Counters(
        predictions=Counter(
            "stallguard_predictions",
            "Shipments scored, by endpoint.",
            ["endpoint"],
            registry=REGISTRY,
        ),
        alerts=Counter(
            "stallguard_alerts_emitted",
            "Alerts the policy emitted and enqueued, by kind.",
            ["kind"],
            registry=REGISTRY,
        ),
        # Labelled by known route only (serving/guard.py): unknown paths are one "other".
        requests=Counter(
            "stallguard_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=REGISTRY,
        ),
        latency=Histogram(
            "stallguard_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=REGISTRY,
        ),
    )


def register_collector(collector: Collector) -> None:
    """Add a collector to the service's registry (once per process: a second is ignored)."""
    with _registering:
        if type(collector) not in _registered:
            REGISTRY.register(collector)
            _registered.add(type(collector))


def exposition() -> tuple[bytes, str]:
    """The service's metrics in Prometheus' text format, and its media type."""
    counters()  # every series exists from the first scrape on
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
