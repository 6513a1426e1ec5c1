"""Prometheus counters of the service, created when first used (in the serving worker).

BentoML's /metrics endpoint exports them next to its own request metrics. They are made
lazily, not at import, because BentoML sets up Prometheus' multiprocess folder for its
workers before it starts them: a counter made earlier would not reach /metrics.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter


@dataclass(frozen=True)
class Counters:
    """What the service counts."""

    predictions: Counter
    alerts: Counter
    rejected: Counter


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
        rejected=Counter(
            "stallguard_rejected_inputs",
            "API requests refused with a 4xx, by endpoint and status.",
            ["endpoint", "status"],
        ),
    )
