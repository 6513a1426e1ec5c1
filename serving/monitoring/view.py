"""The served model's monitoring, computed at most once per pass for each window asked."""

from __future__ import annotations

import threading

import pandas as pd

from serving.alerts.store import AlertStore
from serving.monitoring.summary import Monitoring, Thresholds, summarize
from serving.watch.store import StateStore
from training.predictor import Predictor

CACHED_WINDOWS = 8


class Monitor:
    """Monitoring of one served model over the watch's stores.

    A summary reads the whole window's prediction log, so it is kept until the next pass
    (the figures cannot change in between): a page, a `GET /monitoring` and a Prometheus
    scrape between two passes cost one computation.

    Args:
        store: The watch's state store.
        outbox: The alert outbox.
        predictor: The served model (its drift reference and backtest figures).
        label: The served model's version label.
        timezone: The network's zone (local days).
        thresholds: When figures become findings.
    """

    def __init__(
        self,
        store: StateStore,
        outbox: AlertStore,
        predictor: Predictor,
        label: str,
        timezone: str,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.predictor = predictor
        self.label = label
        self.timezone = timezone
        self.thresholds = thresholds or Thresholds()
        self._cache: dict[tuple[object, ...], Monitoring] = {}
        self._lock = threading.Lock()

    def summary(
        self, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None
    ) -> Monitoring:
        """Every monitoring figure over [since, until) (default: the last week of passes)."""
        last = self.store.last_pass()
        key = (None if last is None else last["as_of"], since, until)
        with self._lock:
            if key not in self._cache:
                if len(self._cache) >= CACHED_WINDOWS or any(k[0] != key[0] for k in self._cache):
                    self._cache.clear()
                self._cache[key] = summarize(
                    self.store,
                    self.outbox,
                    self.predictor.reference,
                    self.predictor.threshold,
                    self.label,
                    dict(self.predictor.info.get("backtest", {})),
                    self.timezone,
                    since,
                    until,
                    self.thresholds,
                )
            return self._cache[key]
