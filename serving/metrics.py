"""Prometheus metrics of the service, made when first used, and the `/metrics` exposition.

The service serves /metrics itself (BentoML's own request metrics label every raw path, so
random paths would grow them without bound; they are off). Metrics are made lazily, not at
import, because BentoML sets up Prometheus' multiprocess folder for its workers before it
starts them: the exposition then sums every worker's files.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector


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
            "stallguard_predictions", "Shipments scored, by endpoint.", ["endpoint"]
        ),
        alerts=Counter(
            "stallguard_alerts_emitted",
            "Alerts the policy emitted and enqueued, by kind.",
            ["kind"],
        ),
        # Labelled by known route only (serving/guard.py): unknown paths are one "other".
        requests=Counter(
            "stallguard_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
        ),
        latency=Histogram(
            "stallguard_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
    )


def exposition() -> tuple[bytes, str]:
    """The current metrics of every worker, in Prometheus' text format, and its media type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
