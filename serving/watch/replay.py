"""A world replayed in time order, as the network would have sent it to the live watch.

`Replay` cuts a canonical Tables directory into what was known before `start` (the history
the context needs: outcomes over its longest trailing window, weather, the network)
and then one `Step` per `every` of simulated time: the parcels created, the scans made and the
weather published in that step, ending with a watcher pass as of the step's end.

Nothing is sent before it happened: a shipment goes out at its creation without its outcome
(a DELIVERED scan sets that in the store), a return is sent as a status change at the
parcel's last scan, a day's weather observation once the local day is over, and a forecast on
the local day it was issued.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from contract.tables import Tables
from serving.watch.store import HORIZON
from serving.watch.watcher import PassResult
from training.scoring import gave_up_at

# As far back as a pass reads (the context's longest window and a week): a replayed service
# then scores as one that had run for months.
HISTORY_DAYS = HORIZON / pd.Timedelta(days=1)
HISTORY_CHUNK = 20_000  # rows per progress update while loading the history
EVERY = pd.Timedelta(hours=1)  # simulated time between passes, by default

Statuses = Counter[tuple[str, str]]  # (table, status) -> rows


@dataclass(frozen=True)
class Batch:
    """Rows of one step, by table (any may be empty).

    Attributes:
        shipments: New parcels (outcome columns empty) and status changes (returns).
        events: Scans, in time order.
        observations: Daily weather observations.
        forecasts: Weather forecasts.
    """

    shipments: pd.DataFrame
    events: pd.DataFrame
    observations: pd.DataFrame
    forecasts: pd.DataFrame

    @property
    def rows(self) -> int:
        """Rows in all tables."""
        return sum(len(f) for f in (self.shipments, self.events, self.observations, self.forecasts))


@dataclass(frozen=True)
class Step:
    """One step of simulated time: what happened in (`start`, `end`], then a pass at `end`."""

    start: pd.Timestamp
    end: pd.Timestamp
    batch: Batch


class Replay:
    """A Tables directory cut into history and steps of simulated time.

    Args:
        tables: The world (the simulator's or a source adapter's canonical tables).
        start: When the live part begins (UTC); what happened before is history.
        days: How long the live part runs.
        every: Simulated time between watcher passes.
        history_days: How far before `start` the history goes.

    Raises:
        ValueError: `days` or `every` is not positive, or `start` is outside the data's scans.
    """

    def __init__(
        self,
        tables: Tables,
        start: pd.Timestamp,
        days: float | pd.Timedelta,
        every: pd.Timedelta = EVERY,
        history_days: float | pd.Timedelta = HISTORY_DAYS,
    ) -> None:
        span, back = _days(days), _days(history_days)
        if span <= pd.Timedelta(0):
            raise ValueError(f"days must be positive, got {days!r}")
        if every <= pd.Timedelta(0):
            raise ValueError(f"every must be a positive duration, got {every!r}")
        events = tables.scan_events
        first, last = events["event_time"].min(), events["event_time"].max()
        start = pd.Timestamp(start).tz_convert("UTC")
        if not first < start <= last:
            raise ValueError(
                f"start {start.isoformat()} is outside the data's scans "
                f"({first.isoformat()} .. {last.isoformat()})"
            )
        self.tables = tables
        self.start = start
        self.end = start + span
        self.every = every
        self.since = start - back
        self._known = _availability(tables)
        # The watch's parcels (created from `since` to the end) and their scans, by time: each
        # step then cuts a slice instead of scanning the whole world.
        ships = tables.shipments
        mine = (ships["created_at"] >= self.since) & (ships["created_at"] <= self.end)
        self._ships = ships[mine]
        self._returned_at = self._known["returned_at"][mine]
        scans = events[events["shipment_id"].isin(self._ships["shipment_id"]).to_numpy()]
        self._events = scans.sort_values("event_time", kind="stable").reset_index(drop=True)

    @property
    def network(self) -> pd.DataFrame:
        """The hubs and terminals."""
        return self.tables.network

    def resumed(self, watched: pd.Timestamp) -> Replay:
        """The rest of this replay after a pass as of `watched` (a crash, a restart).

        The steps keep their times; the history reaches back to this replay's own, so a target
        that lost nothing answers it with duplicates only.

        Raises:
            ValueError: `watched` is not one of this replay's pass times.
        """
        done = watched - self.start
        if done <= pd.Timedelta(0) or watched >= self.end or done % self.every:
            raise ValueError(
                f"{watched.isoformat()} is not a pass time of this replay before its end"
            )
        return Replay(self.tables, watched, self.end - watched, self.every, watched - self.since)

    @property
    def steps(self) -> int:
        """How many steps (watcher passes) the live part has."""
        return int(-(-(self.end - self.start) // self.every))

    def history(self) -> Batch:
        """What was known at `start` about the parcels created from `since` on, and the weather."""
        ships = self._ships
        chosen = ships[ships["created_at"] <= self.start]
        returned = self._returned_at.reindex(chosen.index) <= self.start
        # Outcomes come from the DELIVERED scans; a return known by then comes with the row.
        rows = chosen.assign(delivered_at=pd.NaT, final_status=None)
        rows.loc[returned, "final_status"] = chosen.loc[returned, "final_status"]
        scans = self._slice(None, self.start)
        return self._batch(
            rows, scans[scans["shipment_id"].isin(chosen["shipment_id"])], None, self.start
        )

    def live(self) -> Iterator[Step]:
        """The steps of the live part, in time order."""
        t = self.start
        while t < self.end:
            end = min(t + self.every, self.end)
            yield Step(t, end, self._step(t, end))
            t = end

    def _step(self, start: pd.Timestamp, end: pd.Timestamp) -> Batch:
        ships, created, returned_at = self._ships, self._ships["created_at"], self._returned_at
        new = ships[(created > start) & (created <= end)]
        new = new.assign(delivered_at=pd.NaT, final_status=None)
        ended = ships[(returned_at > start) & (returned_at <= end)]
        # A return is a status change sent at the parcel's last scan (after its row, if new).
        rows = pd.concat([new, ended.assign(delivered_at=pd.NaT)], ignore_index=True)
        return self._batch(rows, self._slice(start, end), start, end)

    def _slice(self, start: pd.Timestamp | None, end: pd.Timestamp) -> pd.DataFrame:
        """The watch's scans in (`start`, `end`] (None: from the first)."""
        times = self._events["event_time"]
        low = 0 if start is None else int(times.searchsorted(start, side="right"))
        return self._events.iloc[low : int(times.searchsorted(end, side="right"))]

    def _batch(
        self,
        shipments: pd.DataFrame,
        scans: pd.DataFrame,
        start: pd.Timestamp | None,
        end: pd.Timestamp,
    ) -> Batch:
        """The step's rows, with the weather published in (`start`, `end`] (None: `since`)."""
        observed, issued = self._known["observed_at"], self._known["issued_at"]
        # The history's weather starts with its parcels: the features look back days, not years.
        low = self.since if start is None else start
        seen = (observed > low) & (observed <= end)
        out = (issued > low) & (issued <= end)
        return Batch(
            shipments.reset_index(drop=True),
            scans.reset_index(drop=True),
            self.tables.weather_daily[seen.to_numpy()].reset_index(drop=True),
            self.tables.weather_forecast[out.to_numpy()].reset_index(drop=True),
        )


def _days(value: float | pd.Timedelta) -> pd.Timedelta:
    return value if isinstance(value, pd.Timedelta) else pd.Timedelta(days=value)


def _availability(tables: Tables) -> dict[str, pd.Series]:
    """When each fact became known: returns, weather observations and forecasts."""
    returned_at = gave_up_at(tables)
    tz = tables.locale.timezone
    day_end = _local_midnight(tables.weather_daily["date"], tz) + pd.Timedelta(days=1)
    issued = _local_midnight(tables.weather_forecast["issued_date"], tz)
    return {
        "returned_at": pd.to_datetime(returned_at, utc=True),
        "observed_at": pd.Series(day_end.to_numpy(), index=tables.weather_daily.index),
        "issued_at": pd.Series(issued.to_numpy(), index=tables.weather_forecast.index),
    }


def _local_midnight(days: pd.Series, tz: str) -> pd.Series:
    """The UTC time at which each local calendar day starts."""
    naive = pd.to_datetime(days).dt.normalize()
    return naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert(
        "UTC"
    )


class Target(Protocol):
    """What a replay feeds (serving/watch/targets.py: a running service, or a local store)."""

    def put(self, batch: Batch) -> Statuses:
        """Ingest a batch: shipments first, then scans, then weather."""
        ...

    def put_network(self, frame: pd.DataFrame) -> Statuses:
        """Ingest the hubs and terminals."""
        ...

    def watched_as_of(self) -> pd.Timestamp | None:
        """The latest pass's `as_of`, or None before the first (where to resume)."""
        ...

    def watch(self, as_of: pd.Timestamp) -> PassResult:
        """Run a watcher pass as of `as_of`."""
        ...


@dataclass
class Summary:
    """What a replay did so far.

    Attributes:
        statuses: Rows by (table, status) over the whole replay.
        passes: Watcher passes run.
        alerts: Alerts the passes queued.
        last: The latest pass, or None.
        history_s: Seconds the history took to load.
        live_s: Seconds the live part has taken.
        live_rows: Rows sent in the live part.
        pass_s: Seconds the passes took (as the caller waited for them).
    """

    statuses: Statuses = field(default_factory=Counter)
    passes: int = 0
    alerts: int = 0
    last: PassResult | None = None
    history_s: float = 0.0
    live_s: float = 0.0
    live_rows: int = 0
    pass_s: float = 0.0


HistoryProgress = Callable[[str, int, int], None]  # (table, rows done, rows in all)
StepProgress = Callable[[Step, Summary], None]


def run_replay(
    replay: Replay,
    target: Target,
    speed: float = 0.0,
    on_history: HistoryProgress | None = None,
    on_step: StepProgress | None = None,
) -> Summary:
    """Load the history in bulk, then stream the live part step by step with a pass after each.

    Args:
        replay: The world, cut in time.
        target: Where it goes (a running service, or a store in this process).
        speed: Simulated seconds per real second; 0: as fast as the target takes it.
        on_history: Told the rows loaded per table.
        on_step: Told after each step's pass.

    Raises:
        ValueError: `speed` is negative.
    """
    if speed < 0:
        raise ValueError(f"speed must be >= 0, got {speed!r}")
    summary = Summary()
    started = time.monotonic()
    summary.statuses += target.put_network(replay.network)
    history = replay.history()
    for table, frame in (
        ("shipments", history.shipments),
        ("scan_events", history.events),
        ("weather_daily", history.observations),
        ("weather_forecast", history.forecasts),
    ):
        for start in range(0, len(frame), HISTORY_CHUNK):
            chunk = frame.iloc[start : start + HISTORY_CHUNK]
            summary.statuses += target.put(_only(table, chunk))
            if on_history is not None:
                on_history(table, start + len(chunk), len(frame))
    summary.history_s = time.monotonic() - started
    live_started = time.monotonic()
    for step in replay.live():
        if speed > 0:
            # The step's pass happens when its end would have been reached at `speed`.
            due = live_started + (step.end - replay.start).total_seconds() / speed
            time.sleep(max(0.0, due - time.monotonic()))
        summary.statuses += target.put(step.batch)
        summary.live_rows += step.batch.rows
        watched = time.monotonic()
        result = target.watch(step.end)
        summary.pass_s += time.monotonic() - watched
        summary.passes += 1
        summary.alerts += result.alerts
        summary.last = result
        summary.live_s = time.monotonic() - live_started
        if on_step is not None:
            on_step(step, summary)
    return summary


def _only(table: str, frame: pd.DataFrame) -> Batch:
    """A batch holding `frame` as `table` and nothing else."""
    empty = frame.iloc[0:0]
    parts = dict.fromkeys(("shipments", "events", "observations", "forecasts"), empty)
    name = {
        "shipments": "shipments",
        "scan_events": "events",
        "weather_daily": "observations",
        "weather_forecast": "forecasts",
    }[table]
    parts[name] = frame
    return Batch(**parts)
