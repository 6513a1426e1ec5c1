"""One watcher pass: every parcel in flight re-scored as of now, and the alerts it triggers.

A pass reads the store as of `as_of` (scans up to it; outcomes known by then), builds the
context from it (hub load to the last full hour, histories, weather), scores every parcel in
flight with the served `Predictor` (the one feature path), makes those predictions current and
logs them, and runs the alert policy into the outbox. A watcher keeps the store's recent rows
in memory between passes and reads only what changed (serving/watch/mirror.py), and rebuilds
only the parts of the context those changes touch (serving/watch/context_keeper.py). A parcel
that has not moved gets riskier as the hours pass, because its features age with `as_of`.

Passes never overlap across processes: a pass takes the store's lease first and gives up
(`WatchBusy`) if another holds it. The lease is short and renewed while the pass runs, so a
process killed mid-pass holds up the next one for at most `LEASE_S`. The clock is injected, so
a replay runs in simulated time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from contract.tables import Tables
from features.context import Context
from features.family import Columns
from serving.alerts import AlertPolicy, AlertStore, Renderer
from serving.watch.context_keeper import ContextKeeper
from serving.watch.frames import last_scans
from serving.watch.mirror import StoreMirror
from serving.watch.store import StateStore
from training.predictor import Predictor
from training.scoring import in_flight, score_with_features
from training.timing import Stopwatch

log = logging.getLogger("stallguard.watch")

Clock = Callable[[], pd.Timestamp]
# (predictor, tables, as_of, context) -> the ranking of the parcels in flight, their features.
Scorer = Callable[[Predictor, Tables, pd.Timestamp, Context], tuple[pd.DataFrame, Columns]]
# The pass lease's length; a running pass renews it every third of that, so a pass whose
# process died frees it within this many seconds.
LEASE_S = 30.0


class WatchBusy(RuntimeError):
    """Another process is running a pass."""


@dataclass(frozen=True)
class PassResult:
    """What one pass did.

    Attributes:
        as_of: The time it scored as of.
        scored: Parcels in flight it scored.
        at_risk: How many of them are at or above the alert threshold.
        alerts: Alerts the policy emitted into the outbox.
        seconds: Where the pass spent its time: read (what changed in the store since the
            last pass), context (the parts the changes touched), score (features, models),
            write (current predictions and the log), alert.
    """

    as_of: pd.Timestamp
    scored: int
    at_risk: int
    alerts: int
    seconds: dict[str, float] = field(default_factory=dict)


def wall_clock() -> pd.Timestamp:
    """The current time (UTC)."""
    return pd.Timestamp.now(tz="UTC")


class Watcher:
    """Runs passes over the store with one model.

    Args:
        store: The watch's state.
        predictor: The served model.
        label: Its version label (`stallguard/3`), logged with every prediction.
        alerts: The outbox the policy writes to.
        policy: Alert thresholds.
        renderer: Customer messages.
        clock: "Now" for passes given no `as_of`.
        scorer: Scores the parcels in flight (`training.scoring.score_with_features`, or
            a Dask engine's, docs/scale.md).
    """

    def __init__(
        self,
        store: StateStore,
        predictor: Predictor,
        label: str,
        alerts: AlertStore,
        policy: AlertPolicy,
        renderer: Renderer,
        clock: Clock = wall_clock,
        scorer: Scorer = score_with_features,
    ) -> None:
        self.store = store
        self.predictor = predictor
        self.label = label
        self.alerts = alerts
        self.policy = policy
        self.renderer = renderer
        self.clock = clock
        self.scorer = scorer
        # Kept between passes: a pass reads what changed since the last, and rebuilds the
        # parts of the context those changes touch.
        self.mirror = StoreMirror(store)
        self.keeper = ContextKeeper()
        # The lease is per owner, and this watcher is one owner: its own threads (the
        # service's clock and POST /watch) take turns here.
        self._running = threading.Lock()
        self.owner = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run_pass(self, as_of: pd.Timestamp | None = None) -> PassResult:
        """Score every parcel in flight as of `as_of` (default: the clock) and alert.

        Raises:
            WatchBusy: Another process holds the pass lease, or this watcher is running one
                (in another thread).
        """
        when = (as_of if as_of is not None else self.clock()).tz_convert("UTC")
        if not self._running.acquire(blocking=False):
            raise WatchBusy("another watcher pass is running; try again when it ends")
        try:
            return self._leased(when)
        finally:
            self._running.release()

    def _leased(self, when: pd.Timestamp) -> PassResult:
        if not self.store.acquire(self.owner, dt.datetime.now(dt.UTC), LEASE_S):
            raise WatchBusy("another watcher pass is running; try again when it ends")
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(stop,), daemon=True)
        renewer.start()
        try:
            result = self._pass(when)
        finally:
            stop.set()
            renewer.join()
            self.store.release(self.owner)
        log.info(
            "pass as_of=%s scored=%d at_risk=%d alerts=%d",
            when.isoformat(),
            result.scored,
            result.at_risk,
            result.alerts,
        )
        return result

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(LEASE_S / 3):
            if not self.store.acquire(self.owner, dt.datetime.now(dt.UTC), LEASE_S):
                log.warning(
                    "the pass lease was taken over: this pass ran longer than %s s", LEASE_S
                )

    def _pass(self, when: pd.Timestamp) -> PassResult:
        clock = Stopwatch()
        tables = self.mirror.tables(when)
        self.keeper.changed(self.mirror.earliest_change())
        clock.lap("read")
        if in_flight(tables, when).empty:  # nothing to score, and no context to build
            self.store.record_pass(when, 0, 0, 0, self.label)
            return PassResult(when, 0, 0, 0, clock.laps)
        context = self.keeper.context(tables, when)
        clock.lap("context")
        scores, features = self.scorer(self.predictor, tables, when, context)
        clock.lap("score")
        if scores.empty:
            self.store.record_pass(when, 0, 0, 0, self.label)
            return PassResult(when, 0, 0, 0, clock.laps)
        self.store.write_predictions(scores, when, self.label, last_scans(tables.scan_events))
        clock.lap("write")
        emitted = self.alerts.decide_pass(scores, self.label, self.policy, when, self.renderer)
        at_risk = int(scores["at_risk"].sum())
        reference = self.predictor.reference
        profile = reference.counts(features, scores["risk"]) if reference is not None else None
        self.store.record_pass(when, len(scores), at_risk, len(emitted), self.label, profile)
        clock.lap("alert")
        return PassResult(when, len(scores), at_risk, len(emitted), clock.laps)
