"""Every parcel's journey through the network, vectorised over all parcels at once.

Times are float hours since local midnight of the world's first day (Korea has no DST, so
local time is UTC+9 throughout). Stages run in journey order; each loops only over a handful
of hubs, attempts or days, never over parcels. Every delay mechanism adds its hours to its
own hidden-cause array, so the world records exactly why each parcel was late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contract.schema import EVENT_TYPES
from sources.synthetic.calendar import WorldCalendar
from sources.synthetic.config import SimulationConfig
from sources.synthetic.network import MAX_HUBS_PER_PATH, Network

EVENT_CODE = {name: np.int8(i) for i, name in enumerate(EVENT_TYPES)}
CAUSES = ("SELLER", "STOPPAGE", "HUB_BACKLOG", "WEATHER", "ISLAND_LEG", "ADDRESS", "RECIPIENT")


@dataclass(frozen=True)
class Conditions:
    """What the world throws at parcels, per (day, region), over the simulated span.

    Attributes:
        precip_mm: Observed precipitation.
        snow: Snow fell.
        wind_ms: Maximum wind (NaN when unknown: no wind effect).
        stopped: The region's terminal is stopped (strike or outage).
    """

    precip_mm: np.ndarray
    snow: np.ndarray
    wind_ms: np.ndarray
    stopped: np.ndarray


@dataclass(frozen=True)
class Parcels:
    """Per-parcel inputs of the journey."""

    origin: np.ndarray
    dest: np.ndarray
    created_h: np.ndarray
    slow_seller: np.ndarray
    economy: np.ndarray
    defect: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)


@dataclass
class EventLog:
    """Scan events collected stage by stage as parallel arrays."""

    parcel: list[np.ndarray] = field(default_factory=list)
    time_h: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    location: list[np.ndarray] = field(default_factory=list)
    region: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        parcel: np.ndarray,
        time_h: np.ndarray,
        kind: str,
        location: np.ndarray,
        region: np.ndarray,
    ) -> None:
        """Record one event per parcel in `parcel` (location and region may be scalars)."""
        n = len(parcel)
        if n == 0:
            return
        self.parcel.append(parcel.astype(np.int32))
        self.time_h.append(np.asarray(time_h, dtype=np.float64))
        self.kind.append(np.full(n, EVENT_CODE[kind], dtype=np.int8))
        self.location.append(np.broadcast_to(location, n).astype(np.int16))
        self.region.append(np.broadcast_to(region, n).astype(np.int16))

    def arrays(self) -> dict[str, np.ndarray]:
        """All events, sorted by parcel, then time, then journey order of the event type."""
        cols = {
            "parcel": np.concatenate(self.parcel),
            "time_h": np.concatenate(self.time_h),
            "kind": np.concatenate(self.kind),
            "location": np.concatenate(self.location),
            "region": np.concatenate(self.region),
        }
        order = np.lexsort((cols["kind"], cols["time_h"], cols["parcel"]))
        return {k: v[order] for k, v in cols.items()}


@dataclass(frozen=True)
class OutageTruth:
    """What the injected hub outages did (see `SimulationConfig.hub_outages`).

    Attributes:
        cleared_day: Per outage, in config order, the first day on or after its last day
            that ends with the hub's backlog at zero (-1 if it never does within the span).
        parcel: Index of every parcel that waited at least one whole day at an outage hub,
            having arrived between an outage's first day and the day its backlog cleared.
        hub: The hub index of each such wait.
        day: The day the parcel arrived at the hub.
        wait_days: Whole days it waited in the queue.
    """

    cleared_day: np.ndarray
    parcel: np.ndarray
    hub: np.ndarray
    day: np.ndarray
    wait_days: np.ndarray


@dataclass
class Journeys:
    """The outcome of every parcel's journey."""

    promised_h: np.ndarray
    delivered_h: np.ndarray
    returned_h: np.ndarray
    promised_day: np.ndarray
    events: EventLog
    cause_hours: dict[str, np.ndarray]
    hub_capacity: np.ndarray
    terminal_capacity: np.ndarray
    outages: OutageTruth


class JourneySimulator:
    """Moves parcels through the network; `run` returns their journeys."""

    def __init__(
        self,
        config: SimulationConfig,
        network: Network,
        calendar: WorldCalendar,
        conditions: Conditions,
        rng: np.random.Generator,
    ) -> None:
        self.cfg = config
        self.ops = config.operations
        self.wx = config.weather_effects
        self.net = network
        self.cal = calendar
        self.cond = conditions
        self.rng = rng
        self.n_hubs = len(network.hub_ids)

    # --- helpers -------------------------------------------------------------------------
    def _day(self, t: np.ndarray) -> np.ndarray:
        return np.clip((t // 24).astype(np.int64), 0, self.cal.span - 1)

    def _terminal(self, region: np.ndarray) -> np.ndarray:
        return self.n_hubs + region

    def _uniform(self, bounds: tuple[float, float], n: int) -> np.ndarray:
        return self.rng.uniform(bounds[0], bounds[1], n)

    def _linehaul_factor(self, day: np.ndarray, region: np.ndarray) -> np.ndarray:
        """Slow-down of a truck heading into `region` on `day` (rain or snow there)."""
        rain = self.cond.precip_mm[day, region] >= self.wx.heavy_rain_mm
        snow = self.cond.snow[day, region]
        factor = np.ones(len(day))
        factor = np.where(rain, self.wx.heavy_rain_linehaul_factor, factor)
        return np.where(snow, np.maximum(factor, self.wx.snow_linehaul_factor), factor)

    def _wait_out_stoppage(self, day: np.ndarray, region: np.ndarray) -> np.ndarray:
        """First business day on or after `day` when the region's terminal works."""
        day = self.cal.next_business_day(day)
        for _ in range(self.cal.span):
            blocked = self.cond.stopped[day, region]
            if not blocked.any():
                break
            day = np.where(blocked, self.cal.next_business_day(day + 1), day)
        return day

    # --- stages --------------------------------------------------------------------------
    def run(self, parcels: Parcels) -> Journeys:
        """Simulate every parcel from creation to delivery, return or the end of the span."""
        n = len(parcels)
        self.events = EventLog()
        self.causes = {c: np.zeros(n) for c in CAUSES}
        idx = np.arange(n)
        o, d = parcels.origin, parcels.dest
        self.events.add(idx, parcels.created_h, "CREATED", self._terminal(o), o)

        ship_day, promised_day, promised_h = self._promise(parcels)
        pickup_h = self._handover(parcels, ship_day)
        self.events.add(idx, pickup_h, "PICKED_UP", self._terminal(o), o)

        leave_h = pickup_h + self._uniform(self.ops.terminal_handling_hours, n)
        hub_draws = (
            self.rng.uniform(*self.ops.hub_sort_hours, (n, MAX_HUBS_PER_PATH)),
            self.rng.random((n, MAX_HUBS_PER_PATH)),
        )
        paths = self.net.lane_paths[o, d]
        # Plan without queues to learn each hub's daily volume, then run with the backlog.
        planned = self._through_hubs(parcels, paths, leave_h, hub_draws, backlog=None)
        outages = self._outage_days()
        backlog = HubBacklog.from_arrivals(
            planned.arrivals,
            self.n_hubs,
            self.cal,
            self.ops.hub_capacity_headroom,
            self.ops.peak_surge_capacity,
            self.ops.post_holiday_surge_days,
            outages,
        )
        self.outage_waits: list[tuple[np.ndarray, ...]] = []
        hubs = self._through_hubs(parcels, paths, leave_h, hub_draws, backlog=backlog)

        terminal_in_h = self._to_terminal(parcels, hubs.depart_h, hubs.last_region)
        delivered_h, returned_h = self._last_mile(parcels, terminal_in_h)
        return Journeys(
            promised_h=promised_h,
            delivered_h=delivered_h,
            returned_h=returned_h,
            promised_day=promised_day,
            events=self.events,
            cause_hours=self.causes,
            hub_capacity=backlog.capacity,
            terminal_capacity=self.terminal_capacity,
            outages=self._outage_truth(backlog, outages),
        )

    def _outage_days(self) -> list[tuple[int, int, int]]:
        """(hub index, first day, last day) of every injected outage, in config order."""
        start = self.cal.start
        return [
            (
                self.net.hub_ids.index(o.hub),
                (o.first_day - start).days,
                (o.last_day - start).days,
            )
            for o in self.cfg.hub_outages
        ]

    def _outage_truth(
        self, backlog: HubBacklog, outages: list[tuple[int, int, int]]
    ) -> OutageTruth:
        """The outages' cleared days and the waits `_through_hubs` recorded."""
        cleared = np.array([backlog.cleared_day(h, last) for h, _, last in outages], dtype=np.int64)
        waits = self.outage_waits or [(np.zeros(0, dtype=np.int64),) * 4]
        columns = zip(*waits, strict=True)
        parcel, hub, day, wait = (np.concatenate(c).astype(np.int64) for c in columns)
        return OutageTruth(cleared, parcel, hub, day, wait)

    def _promise(self, p: Parcels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ship day (same day before the cut-off) and the promised day (D+1, D+2 remote)."""
        day = (p.created_h // 24).astype(np.int64)
        after_cutoff = p.created_h - 24 * day >= self.cfg.demand.pickup_cutoff_hour
        ship_day = self.cal.next_business_day(day + after_cutoff)
        regions = self.net.regions
        remote = (
            (self.net.lane_hub_count[p.origin, p.dest] == MAX_HUBS_PER_PATH)
            | regions["island"].to_numpy()[p.dest]
            | regions["remote"].to_numpy()[p.dest]
        )
        promised_day = self.cal.add_business_days(ship_day, 1 + remote + p.economy)
        promised_h = promised_day * 24.0 + 24.0 - 1.0 / 3600.0
        return ship_day, promised_day, promised_h

    def _handover(self, p: Parcels, ship_day: np.ndarray) -> np.ndarray:
        """Seller hands over on the ship day, late for slow sellers, later still if stopped."""
        n = len(p)
        dem = self.cfg.demand
        late_prob = np.where(p.slow_seller, dem.slow_seller_late_prob, dem.normal_seller_late_prob)
        lag = np.where(self.rng.random(n) < late_prob, self.rng.integers(1, 3, n), 0)
        handover_day = self.cal.add_business_days(ship_day, lag)
        self.causes["SELLER"] += (handover_day - ship_day) * 24.0
        hour = dem.pickup_cutoff_hour + self.rng.uniform(0.5, 2.5, n)
        picked_day = self._wait_out_stoppage(handover_day, p.origin)
        stalled = picked_day > handover_day
        self.events.add(
            np.flatnonzero(stalled),
            handover_day[stalled] * 24.0 + hour[stalled],
            "EXCEPTION",
            self._terminal(p.origin[stalled]),
            p.origin[stalled],
        )
        self.causes["STOPPAGE"] += (picked_day - handover_day) * 24.0
        return picked_day * 24.0 + hour

    def _through_hubs(
        self,
        p: Parcels,
        paths: np.ndarray,
        leave_h: np.ndarray,
        draws: tuple[np.ndarray, np.ndarray],
        backlog: HubBacklog | None,
    ) -> _HubPass:
        """Line-haul legs and hub sorts along each parcel's path (1-3 hubs).

        Without a backlog this is the planning pass: it records no events and no causes.
        """
        sort_h, fifo_rank = draws
        t = leave_h.copy()
        region = p.origin.copy()
        arrivals = []
        for k in range(MAX_HUBS_PER_PATH):
            active = np.flatnonzero(paths[:, k] >= 0)
            hub = paths[active, k]
            hub_region = self.net.hub_region_idx[hub]
            base = self.net.linehaul_hours(region[active], hub_region)
            factor = self._linehaul_factor(self._day(t[active]), hub_region)
            arrive = t[active] + base * factor
            arrive_day = self._day(arrive)
            arrivals.append((hub, arrive_day))
            wait_days = np.zeros(len(active), dtype=np.int64)
            if backlog is not None:
                self.causes["WEATHER"][active] += base * (factor - 1)
                wait_days = backlog.wait_days(hub, arrive_day, fifo_rank[active, k])
                self.causes["HUB_BACKLOG"][active] += wait_days * 24.0
                caught = backlog.in_outage[hub, arrive_day] & (wait_days >= 1)
                self.outage_waits.append(
                    (active[caught], hub[caught], arrive_day[caught], wait_days[caught])
                )
                self.events.add(active, arrive, "HUB_IN", hub, hub_region)
            depart = arrive + sort_h[active, k] + 24.0 * wait_days
            if backlog is not None:
                self.events.add(active, depart, "HUB_OUT", hub, hub_region)
            t[active] = depart
            region[active] = hub_region
        return _HubPass(depart_h=t, last_region=region, arrivals=arrivals)

    def _to_terminal(self, p: Parcels, depart_h: np.ndarray, hub_region: np.ndarray) -> np.ndarray:
        """Truck (or, for islands, the daily ferry/air leg) to the destination terminal."""
        n = len(p)
        island = self.net.regions["island"].to_numpy()[p.dest]
        base = self.net.linehaul_hours(hub_region, p.dest)
        factor = self._linehaul_factor(self._day(depart_h), p.dest)
        arrive = depart_h + base * factor
        self.causes["WEATHER"][~island] += (base * (factor - 1))[~island]

        isl = np.flatnonzero(island)
        if len(isl):
            arrive[isl] = self._island_leg(isl, depart_h[isl], hub_region[isl], p.dest[isl])
        dest = p.dest
        self.events.add(np.arange(n), arrive, "TERMINAL_IN", self._terminal(dest), dest)
        return arrive

    def _island_leg(
        self, idx: np.ndarray, ready_h: np.ndarray, gateway: np.ndarray, dest: np.ndarray
    ) -> np.ndarray:
        """Wait for the daily departure; rain or wind at either end cancels it for the day."""
        dep_hour = self.ops.island_departure_hour
        day = self._day(ready_h) + (ready_h % 24 > dep_hour - 0.5)
        planned = day.copy()
        for _ in range(self.cal.span):
            day = np.clip(day, 0, self.cal.span - 1)
            rain = np.maximum(self.cond.precip_mm[day, gateway], self.cond.precip_mm[day, dest])
            wind = np.nan_to_num(self.cond.wind_ms[day, dest], nan=0.0)
            cancelled = (rain >= self.wx.island_cancel_rain_mm) | (
                wind >= self.wx.island_cancel_wind_ms
            )
            cancelled &= day < self.cal.span - 1
            if not cancelled.any():
                break
            first = cancelled & (day == planned)
            gw_hub = np.full(int(first.sum()), self.net.hub_ids.index("HUB-GWANGJU-HONAM"))
            self.events.add(
                idx[first], day[first] * 24.0 + dep_hour, "EXCEPTION", gw_hub, gateway[first]
            )
            day = day + cancelled
        self.causes["ISLAND_LEG"][idx] += (day - planned) * 24.0
        return day * 24.0 + dep_hour + self._uniform(self.ops.island_leg_hours, len(idx))

    def _next_wave(
        self, t: np.ndarray, dest: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The first courier wave a parcel at the terminal at `t` rides.

        Returns:
            Day and local hour of the wave, the day it would have been without a stoppage, and
            whether a stoppage held it.
        """
        waves = np.asarray(self.ops.delivery_waves)
        day = (t // 24).astype(np.int64)
        hour = t - 24 * day
        usable = hour[:, None] <= waves[None, :] - self.ops.wave_cutoff_hours
        has_wave = usable.any(axis=1)
        wave = np.where(has_wave, waves[usable.argmax(axis=1)], waves[0])
        day = np.where(has_wave, day, day + 1)
        bday = self.cal.next_business_day(day)
        wave = np.where(bday != day, waves[0], wave)
        open_day = self._wait_out_stoppage(bday, dest)
        stalled = open_day > bday
        return open_day, np.where(stalled, waves[0], wave), bday, stalled

    def _last_mile(self, p: Parcels, terminal_in_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Courier attempts until delivered or returned after `max_attempts` failures.

        Returns:
            Delivery time, and the time of the last failed attempt for returned parcels (NaN
            for the others).
        """
        n = len(p)
        ops, wx = self.ops, self.wx
        delivered = np.full(n, np.nan)
        returned = np.full(n, np.nan)
        attempts = np.zeros(n, dtype=np.int64)
        has_defect = p.defect != "NONE"
        defect_prob = (
            pd.Series(p.defect)
            .map(ops.defect_failed_attempt_prob)
            .fillna(ops.base_failed_attempt_prob)
            .to_numpy()
        )
        remote = self.net.regions["remote"].to_numpy()[p.dest]
        t = terminal_in_h.copy()
        overload = self._terminal_overload(terminal_in_h, p.dest)
        pending = np.arange(n)
        stop_reported = np.zeros(n, dtype=bool)
        for _ in range(4 * ops.max_attempts + 8):
            pending = pending[t[pending] < self.cal.span * 24.0 - 24.0]
            if len(pending) == 0:
                break
            dest = p.dest[pending]
            day, wave, planned_day, stalled = self._next_wave(t[pending], dest)
            first_stop = stalled & ~stop_reported[pending]
            self.events.add(
                pending[first_stop],
                planned_day[first_stop] * 24.0 + wave[first_stop],
                "EXCEPTION",
                self._terminal(dest[first_stop]),
                dest[first_stop],
            )
            stop_reported[pending[stalled]] = True
            self.causes["STOPPAGE"][pending] += (day - planned_day) * 24.0
            ofd = day * 24.0 + wave + self.rng.uniform(0.0, 0.3, len(pending))
            self.events.add(pending, ofd, "OUT_FOR_DELIVERY", self._terminal(dest), dest)

            rain = self.cond.precip_mm[day, dest]
            snow = self.cond.snow[day, dest]
            carry_prob = np.select(
                [rain >= wx.typhoon_rain_mm, rain >= wx.heavy_rain_mm, snow],
                [wx.typhoon_carryover_prob, wx.heavy_rain_carryover_prob, wx.snow_carryover_prob],
                0.0,
            )
            slow = np.select([snow, rain >= wx.heavy_rain_mm], [1.5, 1.3], 1.0)
            round_h = self._uniform(ops.delivery_round_hours, len(pending))
            door_h = ofd + round_h * slow + np.where(remote[pending], ops.remote_extra_hours, 0.0)
            self.causes["WEATHER"][pending] += round_h * (slow - 1)

            carried = self.rng.random(len(pending)) < carry_prob
            self.causes["WEATHER"][pending[carried]] += 24.0
            overflow = ~carried & (self.rng.random(len(pending)) < overload[day, dest])
            self.causes["HUB_BACKLOG"][pending[overflow]] += 24.0
            carried |= overflow
            held = pending[carried]
            self.events.add(
                held,
                np.minimum(door_h[carried], day[carried] * 24.0 + 21.5),
                "EXCEPTION",
                self._terminal(dest[carried]),
                dest[carried],
            )
            t[held] = (day[carried] + 1) * 24.0

            tried = pending[~carried]
            fail_prob = np.where(
                has_defect[tried],
                defect_prob[tried] * ops.retry_fail_factor ** attempts[tried],
                ops.base_failed_attempt_prob,
            )
            failed = self.rng.random(len(tried)) < fail_prob
            door = door_h[~carried]
            f_idx, ok_idx = tried[failed], tried[~failed]
            self.events.add(
                f_idx, door[failed], "DELIVERY_FAILED", self._terminal(p.dest[f_idx]), p.dest[f_idx]
            )
            attempts[f_idx] += 1
            cause = np.where(has_defect[f_idx], "ADDRESS", "RECIPIENT")
            for name in ("ADDRESS", "RECIPIENT"):
                self.causes[name][f_idx[cause == name]] += 24.0
            t[f_idx] = (day[~carried][failed] + 1) * 24.0
            gave_up = attempts[f_idx] >= ops.max_attempts
            returned[f_idx[gave_up]] = door[failed][gave_up]

            self.events.add(
                ok_idx, door[~failed], "DELIVERED", self._terminal(p.dest[ok_idx]), p.dest[ok_idx]
            )
            delivered[ok_idx] = door[~failed]
            pending = np.concatenate([held, f_idx[attempts[f_idx] < ops.max_attempts]])
        return delivered, returned

    def _terminal_overload(self, terminal_in_h: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """Share of a terminal's parcels its couriers cannot take out that day [day, region].

        Couriers are sized like hubs: for a busy ordinary day, with surge help on peak days.
        Parcels over that are held to the next day.
        """
        day, _, _, _ = self._next_wave(terminal_in_h, dest)
        n_regions = len(self.net.regions)
        load = np.zeros((self.cal.span, n_regions))
        np.add.at(load, (day, dest), 1.0)
        ordinary = self.cal.is_business_day & ~self.cal.is_peak
        busy = np.quantile(load[ordinary], 0.8, axis=0)
        self.terminal_capacity = np.ceil(self.ops.hub_capacity_headroom * np.maximum(busy, 1.0))
        surge = np.where(self.cal.is_peak, self.ops.courier_surge_capacity, 1.0)
        capacity = self.terminal_capacity[None, :] * surge[:, None]
        return np.clip(1.0 - capacity / np.maximum(load, 1.0), 0.0, 1.0)


@dataclass
class _HubPass:
    depart_h: np.ndarray
    last_region: np.ndarray
    arrivals: list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class HubBacklog:
    """First-in-first-out sorting with a daily capacity at every hub.

    The backlog is computed once from the planned arrivals (every stage of every path):
    `backlog[d] = max(0, backlog[d-1] + arrivals[d] - capacity[d])`, carried over days. A parcel
    arriving on day d at a random position of that day's arrivals is sorted on the first day
    whose cumulative sorted count passes its place in the queue.

    Attributes:
        capacity: Each hub's normal daily capacity.
        arrived_before: Parcels arrived before each day [hub, day].
        arrived_on: Parcels arriving on each day [hub, day].
        sorted_by: Parcels sorted up to the end of each day [hub, day].
        backlog: Parcels carried over at the end of each day [hub, day].
        in_outage: Days from an injected outage's first day to the day its backlog cleared
            [hub, day].
    """

    capacity: np.ndarray
    arrived_before: np.ndarray
    arrived_on: np.ndarray
    sorted_by: np.ndarray
    backlog: np.ndarray
    in_outage: np.ndarray

    @classmethod
    def from_arrivals(
        cls,
        arrivals: list[tuple[np.ndarray, np.ndarray]],
        n_hubs: int,
        calendar: WorldCalendar,
        headroom: float,
        surge: float,
        surge_days_after_closure: int,
        outages: Sequence[tuple[int, int, int]] = (),
    ) -> HubBacklog:
        """Queue state of every hub from the planned (hub, day) arrivals of every path stage.

        Args:
            arrivals: (hub index, day) arrays of every path stage.
            n_hubs: Number of hubs.
            calendar: The world's days (closures, peaks).
            headroom: Capacity over a busy ordinary day.
            surge: Capacity multiplier on peak days and after closures.
            surge_days_after_closure: Days after a closure that get the surge.
            outages: (hub index, first day, last day) of injected outages: no sorting then.
        """
        span = calendar.span
        counts = np.zeros((n_hubs, span))
        for hub, day in arrivals:
            np.add.at(counts, (hub, day), 1.0)
        open_days = ~calendar.hub_closed
        # Sized for a busy ordinary day (the 80th percentile outside peaks): the weekly
        # Monday/Tuesday swell fits, holiday rushes do not and must queue.
        ordinary = counts[:, open_days & ~calendar.is_peak]
        capacity = np.ceil(headroom * np.maximum(np.quantile(ordinary, 0.8, axis=1), 1.0))
        surge_days = calendar.is_peak | calendar.after_closure(surge_days_after_closure)
        daily = np.where(surge_days, surge, 1.0) * open_days
        cap = capacity[:, None] * daily[None, :]
        # Outages stop sorting only after the capacity is sized, so they cannot lower it.
        for h, first, last in outages:
            cap[h, first : last + 1] = 0.0
        backlog = np.zeros_like(counts)
        carried = np.zeros(n_hubs)
        for d in range(span):
            carried = np.maximum(0.0, carried + counts[:, d] - cap[:, d])
            backlog[:, d] = carried
        cum = np.cumsum(counts, axis=1)
        in_outage = np.zeros((n_hubs, span), dtype=bool)
        for h, first, last in outages:
            cleared = _first_clear_day(backlog[h], last)
            in_outage[h, first : (span if cleared < 0 else cleared + 1)] = True
        return cls(
            capacity=capacity,
            arrived_before=cum - counts,
            arrived_on=counts,
            sorted_by=cum - backlog,
            backlog=backlog,
            in_outage=in_outage,
        )

    def cleared_day(self, hub: int, last: int) -> int:
        """First day on or after `last` that ends with `hub`'s backlog at zero (-1 if none)."""
        return _first_clear_day(self.backlog[hub], last)

    def wait_days(self, hub: np.ndarray, day: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Whole days a parcel waits in the queue before its sort."""
        place = self.arrived_before[hub, day] + rank * self.arrived_on[hub, day]
        wait = np.zeros(len(hub), dtype=np.int64)
        for h in np.unique(hub):
            sel = hub == h
            sorted_on = np.searchsorted(self.sorted_by[h], place[sel], side="right")
            wait[sel] = np.maximum(sorted_on - day[sel], 0)
        return wait


def _first_clear_day(backlog: np.ndarray, from_day: int) -> int:
    """First day on or after `from_day` whose carried backlog is zero (-1 if none)."""
    clear = np.flatnonzero(backlog[from_day:] == 0.0)
    return from_day + int(clear[0]) if len(clear) else -1
