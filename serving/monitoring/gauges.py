"""Prometheus gauges of the watch: read from the stores at scrape time (a custom collector).

Gauges, not counters: each scrape reports the state as of the latest pass (cached by
`Monitor` until the next one), so any process serving `/metrics` reports the same values.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from serving.monitoring.view import Monitor
from serving.watch.reads import context_age

LIVE = ("late_rate", "roc_auc", "ece", "brier", "eta_p50_mae_h", "p10_p90_coverage")


def _gauge(name: str, text: str, value: float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float("nan") if value is None else value)


class WatchCollector(Collector):
    """The watch's state and the served model's latest monitoring figures."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        """One sample per gauge (NaN where there is nothing to report yet)."""
        m = self.monitor.summary()
        info = InfoMetricFamily("stallguard_model", "The served model.")
        info.add_metric([], {"version": self.monitor.label})
        yield info
        flying = m.in_flight
        yield _gauge(
            "stallguard_in_flight", "Parcels in flight at the latest pass.", flying.parcels
        )
        yield _gauge(
            "stallguard_share_at_risk",
            "Share of the parcels in flight flagged at risk at the latest pass.",
            flying.share_at_risk,
        )
        risk = GaugeMetricFamily(
            "stallguard_risk_parcels",
            "Parcels in flight by risk decile at the latest pass.",
            labels=["risk_from"],
        )
        for k, count in enumerate(flying.risk_histogram):
            risk.add_metric([f"{k / 10:.1f}"], count)
        yield risk
        yield _gauge(
            "stallguard_expected_late_rate",
            "Late rate the risks of the parcels in flight expect (label-free estimate).",
            flying.estimated_late_rate,
        )
        yield _gauge(
            "stallguard_context_age_seconds",
            "How old the latest pass's context is now.",
            self._context_age(),
        )
        counts = self.monitor.outbox.counts()
        outbox = GaugeMetricFamily(
            "stallguard_outbox_alerts", "Alerts in the outbox by status.", labels=["status"]
        )
        for status in ("pending", "dead", "parked", "delivered"):
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox
        live = GaugeMetricFamily(
            "stallguard_live_quality",
            "The latest settled day's realised figures (outcomes joined to the predictions).",
            labels=["metric"],
        )
        settled = m.daily[m.daily["settled"] >= self.monitor.thresholds.settled]
        for name in LIVE:
            value = float(settled[name].iloc[-1]) if len(settled) else float("nan")
            live.add_metric([name], value)
        yield live
        drift = GaugeMetricFamily(
            "stallguard_drift_score",
            "Drift of each feature family (and of the risks) over the latest passes; "
            "1 is the significance threshold (docs/monitoring.md).",
            labels=["family"],
        )
        for row in m.drift_latest.itertuples(index=False):
            drift.add_metric([str(row.family)], float(row.score))
        yield drift
        yield _gauge(
            "stallguard_monitoring_findings", "Monitoring thresholds crossed.", len(m.findings)
        )

    def _context_age(self) -> float | None:
        last = self.monitor.store.last_pass()
        return None if last is None else context_age(last).total_seconds()
