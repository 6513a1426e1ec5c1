"""`simulate(config)`: build a whole simulated world as canonical tables plus hidden causes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from contract.schema import (
    EVENT_TYPES,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
)
from contract.tables import Tables, conform
from sources.synthetic.addresses import (
    AddressBatch,
    generate_addresses,
    generate_postcodes,
)
from sources.synthetic.calendar import WorldCalendar
from sources.synthetic.config import SimulationConfig
from sources.synthetic.journey import (
    CAUSES,
    Conditions,
    Journeys,
    JourneySimulator,
    OutageTruth,
    Parcels,
)
from sources.synthetic.locale import korea
from sources.synthetic.network import Network
from sources.synthetic.weather import (
    generate_forecasts,
    generate_weather,
    load_weather_csv,
)

KST_OFFSET = dt.timedelta(hours=9)
# Parcels created near the end keep moving after it; simulate this far past the end.
RUNOUT_DAYS = 30
HIDDEN_DIR = "hidden"
# Share of orders by local hour of creation (online shopping: late morning and evening peaks).
HOUR_WEIGHTS = np.array(
    [2, 1, 1, 0.5, 0.5, 0.5, 1, 2, 3, 5, 6, 6, 6, 5, 5, 5, 5, 5, 5, 6, 7, 7, 6, 4], dtype=float
)
STAGES = ("weather", "demand", "addresses", "journeys", "tables")
HUB_OUTAGE_COLUMNS = {
    "hub": "str",
    "first_day": "datetime64[us]",
    "last_day": "datetime64[us]",
    "cleared_day": "datetime64[us]",
}
OUTAGE_WAIT_COLUMNS = {
    "shipment_id": "str",
    "hub": "str",
    "arrived_day": "datetime64[us]",
    "wait_hours": "float64",
}

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class SimulatedWorld:
    """A simulated world: what features may see (`tables`) and what they never may.

    Attributes:
        tables: The canonical tables, including in-flight parcels at the world's end.
        hidden_causes: One row per (shipment, cause) with the hours that cause added; address
            and contact defects are listed even when they caused no failed attempt.
        stoppages: Regional stoppages (region, first and last local day).
        sellers: Every seller's true reliability (seller_id, slow).
        hub_outages: Injected hub outages (`SimulationConfig.hub_outages`): hub, first and
            last local day without sorting, and cleared_day, the first day from the last one
            that ended with the hub's backlog at zero (NaT if it never did in the simulated
            span). Empty without outages.
        outage_waits: Every parcel that waited at least one whole day in an outage hub's queue
            having arrived between the outage's first day and its cleared day: shipment_id,
            hub, arrived_day (local day) and wait_hours (whole days of waiting x 24; the
            same hours are in its `HUB_BACKLOG` hidden cause).
        end: The world's "now": local midnight after its last day, in UTC.
    """

    tables: Tables
    hidden_causes: pd.DataFrame
    stoppages: pd.DataFrame
    sellers: pd.DataFrame
    hub_outages: pd.DataFrame
    outage_waits: pd.DataFrame
    end: pd.Timestamp

    def write(self, path: str | Path) -> Path:
        """Write the tables and, in a `hidden/` subfolder, the hidden causes and states."""
        root = self.tables.write(path)
        hidden = root / HIDDEN_DIR
        hidden.mkdir(exist_ok=True)
        self.hidden_causes.to_parquet(hidden / "hidden_causes.parquet", index=False)
        self.stoppages.to_parquet(hidden / "stoppages.parquet", index=False)
        self.sellers.to_parquet(hidden / "sellers.parquet", index=False)
        self.hub_outages.to_parquet(hidden / "hub_outages.parquet", index=False)
        self.outage_waits.to_parquet(hidden / "outage_waits.parquet", index=False)
        return root


@dataclass(frozen=True)
class HiddenStates:
    """The world's hidden states, which a perfect observer could know in advance.

    Not the random draws of the journeys (those are the hidden causes), but what set their
    odds: for the foresight oracle only; features never see these.

    Attributes:
        defects: shipment_id, defect (the true address or contact defect; NONE for none).
        sellers: seller_id, slow (a seller who often hands over late).
        stoppages: region, first_day, last_day (local days).
    """

    defects: pd.DataFrame
    sellers: pd.DataFrame
    stoppages: pd.DataFrame


def read_hidden_causes(path: str | Path) -> pd.DataFrame:
    """The hidden causes of a world written by `SimulatedWorld.write` (for evaluation only)."""
    return pd.read_parquet(Path(path) / HIDDEN_DIR / "hidden_causes.parquet")


def read_hub_outages(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The injected hub outages and the waits they caused, of a world written by `write`.

    For evaluation only, like the hidden causes. Worlds written before outages existed have
    no such files: they read as empty tables with the usual columns.

    Returns:
        The `SimulatedWorld.hub_outages` and `outage_waits` tables.
    """
    hidden = Path(path) / HIDDEN_DIR
    return (
        _read_or_empty(hidden / "hub_outages.parquet", HUB_OUTAGE_COLUMNS),
        _read_or_empty(hidden / "outage_waits.parquet", OUTAGE_WAIT_COLUMNS),
    )


def _read_or_empty(file: Path, columns: dict[str, str]) -> pd.DataFrame:
    if file.exists():
        return pd.read_parquet(file)
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def read_hidden_states(path: str | Path) -> HiddenStates | None:
    """The hidden states of a world written by `SimulatedWorld.write` (None if not written)."""
    hidden = Path(path) / HIDDEN_DIR
    files = [hidden / f"{name}.parquet" for name in ("hidden_causes", "sellers", "stoppages")]
    if not all(f.exists() for f in files):
        return None
    causes, sellers, stoppages = (pd.read_parquet(f) for f in files)
    address = causes[causes["cause"].astype("str") == "ADDRESS"]
    defects = pd.DataFrame(
        {"shipment_id": address["shipment_id"], "defect": address["detail"].astype("str")}
    )
    return HiddenStates(defects.reset_index(drop=True), sellers, stoppages)


def simulate(config: SimulationConfig, progress: ProgressFn | None = None) -> SimulatedWorld:
    """Simulate the world `config` describes; the same config always gives the same world.

    Args:
        config: Size, period, seed and every delay mechanism's parameters.
        progress: Called with the name of each stage as it finishes (for progress bars).
    """
    tick = progress or (lambda _stage: None)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    rng_weather, rng_demand, rng_address, rng_journey, rng_forecast, rng_stop = streams
    network = Network()
    calendar = WorldCalendar(config.start, config.days + RUNOUT_DAYS, config.demand)
    n_regions = len(network.regions)

    weather = _weather(config, calendar, rng_weather)
    stopped, stoppages = _stoppages(config, calendar.span, n_regions, rng_stop)
    conditions = _conditions(weather, calendar, stopped, network)
    tick("weather")

    parcels, sellers = _demand(config, calendar, network, rng_demand)
    tick("demand")

    addresses = generate_addresses(parcels.dest, rng_address, config.address_defects)
    parcels = Parcels(
        origin=parcels.origin,
        dest=parcels.dest,
        created_h=parcels.created_h,
        slow_seller=parcels.slow_seller,
        economy=parcels.economy,
        defect=addresses.defect,
    )
    tick("addresses")

    journeys = JourneySimulator(config, network, calendar, conditions, rng_journey).run(parcels)
    tick("journeys")

    end_h = config.days * 24.0
    ids = np.char.add("KR", np.char.zfill(np.arange(1, len(parcels) + 1).astype(str), 8))
    origin_time = pd.Timestamp(config.start, tz="UTC") - KST_OFFSET
    shipments = _shipments(
        config, network, parcels, sellers, addresses, journeys, ids, origin_time, end_h, rng_demand
    )
    events = _events(journeys, network, ids, origin_time, end_h)
    world_weather = weather[weather["date"] < pd.Timestamp(calendar.dates[config.days])]
    forecasts = generate_forecasts(weather, config.forecast_horizon_days, rng_forecast)
    forecasts = forecasts[forecasts["issued_date"] < pd.Timestamp(calendar.dates[config.days])]
    tables = Tables(
        shipments=conform(shipments, SHIPMENTS),
        scan_events=conform(events, SCAN_EVENTS),
        weather_daily=conform(world_weather, WEATHER_DAILY),
        weather_forecast=conform(forecasts, WEATHER_FORECAST),
        network=conform(network.table(journeys.hub_capacity, journeys.terminal_capacity), NETWORK),
        locale=korea(),
    )
    hidden = _hidden_causes(journeys, addresses.defect, ids)
    stoppage_table = _stoppage_table(stoppages, network, calendar)
    outage_table = _hub_outage_table(config, journeys.outages, calendar)
    wait_table = _outage_wait_table(journeys.outages, network, calendar, ids)
    tick("tables")
    seller_table = pd.DataFrame({"seller_id": sellers.ids.astype(str), "slow": sellers.slow})
    end = origin_time + pd.Timedelta(hours=end_h)
    return SimulatedWorld(
        tables=tables,
        hidden_causes=hidden,
        stoppages=stoppage_table,
        sellers=seller_table,
        hub_outages=outage_table,
        outage_waits=wait_table,
        end=end,
    )


def _weather(
    config: SimulationConfig, calendar: WorldCalendar, rng: np.random.Generator
) -> pd.DataFrame:
    if config.weather_csv is None:
        return generate_weather(config.start, calendar.span, rng)
    observed = load_weather_csv(config.weather_csv, config.start, config.days)
    try:
        runout = load_weather_csv(
            config.weather_csv, calendar.dates[config.days], calendar.span - config.days
        )
    except ValueError:
        # The file ends with the world: after it, parcels meet no weather (they are cut anyway).
        runout = observed.iloc[:0]
    return pd.concat([observed, runout], ignore_index=True)


def _conditions(
    weather: pd.DataFrame, calendar: WorldCalendar, stopped: np.ndarray, network: Network
) -> Conditions:
    day = (weather["date"] - pd.Timestamp(calendar.start)).dt.days.to_numpy()
    region = pd.Categorical(weather["region"], categories=network.regions["region"]).codes
    keep = (day >= 0) & (day < calendar.span) & (region >= 0)
    shape = (calendar.span, len(network.regions))

    def grid(column: str, fill: float) -> np.ndarray:
        out = np.full(shape, fill)
        values = pd.to_numeric(weather[column], errors="coerce").to_numpy(dtype=float)
        out[day[keep], region[keep]] = values[keep]
        return out

    precip = np.nan_to_num(grid("precip_mm", 0.0), nan=0.0)
    snow = np.nan_to_num(grid("snow", 0.0), nan=0.0) > 0
    return Conditions(precip, snow, grid("wind_max_ms", np.nan), stopped)


def _stoppages(
    config: SimulationConfig, span: int, n_regions: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    stop = config.stoppages
    count = rng.poisson(stop.per_30_days * config.days / 30)
    stopped = np.zeros((span, n_regions), dtype=bool)
    events = []
    for _ in range(count):
        region = int(rng.integers(n_regions))
        first = int(rng.integers(0, config.days))
        last = min(
            first + int(rng.integers(stop.duration_days[0], stop.duration_days[1] + 1)), span
        )
        stopped[first:last, region] = True
        events.append((region, first, last - 1))
    return stopped, events


def _stoppage_table(
    stoppages: list[tuple[int, int, int]], network: Network, calendar: WorldCalendar
) -> pd.DataFrame:
    names = network.regions["region"].to_numpy()
    return pd.DataFrame(
        {
            "region": [names[r] for r, _, _ in stoppages],
            "first_day": pd.to_datetime([calendar.dates[a] for _, a, _ in stoppages]),
            "last_day": pd.to_datetime([calendar.dates[b] for _, _, b in stoppages]),
        }
    ).astype({"region": "str", "first_day": "datetime64[us]", "last_day": "datetime64[us]"})


def _local_days(days: np.ndarray, calendar: WorldCalendar) -> pd.Series:
    """Day indices as local dates (datetime64[us]); -1 (never) becomes NaT."""
    dates = [calendar.dates[d] if d >= 0 else None for d in days.tolist()]
    return pd.Series(pd.to_datetime(dates), dtype="datetime64[us]")


def _hub_outage_table(
    config: SimulationConfig, truth: OutageTruth, calendar: WorldCalendar
) -> pd.DataFrame:
    outages = config.hub_outages
    return pd.DataFrame(
        {
            "hub": [o.hub for o in outages],
            "first_day": pd.to_datetime([o.first_day for o in outages]),
            "last_day": pd.to_datetime([o.last_day for o in outages]),
            "cleared_day": _local_days(truth.cleared_day, calendar),
        }
    ).astype(HUB_OUTAGE_COLUMNS)


def _outage_wait_table(
    truth: OutageTruth, network: Network, calendar: WorldCalendar, ids: np.ndarray
) -> pd.DataFrame:
    # One row per parcel and hub: a path never visits a hub twice, and overlapping outage
    # windows of one hub are merged before the waits are recorded.
    order = np.lexsort((truth.hub, truth.parcel))
    hubs = np.asarray(network.hub_ids)
    return pd.DataFrame(
        {
            "shipment_id": ids[truth.parcel[order]],
            "hub": hubs[truth.hub[order]],
            "arrived_day": _local_days(truth.day[order], calendar),
            "wait_hours": truth.wait_days[order] * 24.0,
        }
    ).astype(OUTAGE_WAIT_COLUMNS)


@dataclass(frozen=True)
class _Sellers:
    region: np.ndarray
    slow: np.ndarray
    postcode: np.ndarray
    ids: np.ndarray
    choice: np.ndarray


def _demand(
    config: SimulationConfig, calendar: WorldCalendar, network: Network, rng: np.random.Generator
) -> tuple[Parcels, _Sellers]:
    n = config.shipments
    dem = config.demand
    regions = network.regions
    population = regions["population_k"].to_numpy(dtype=float)
    capital = regions["province_ko"].isin(["서울특별시", "경기도", "인천광역시"]).to_numpy()
    # Sellers cluster in the capital area more than people do.
    seller_weight = population**1.2 * np.where(capital, 2.0, 1.0)
    n_sellers = max(5, round(n * dem.sellers_per_10k / 10_000))
    seller_region = rng.choice(len(regions), n_sellers, p=seller_weight / seller_weight.sum())
    slow = rng.random(n_sellers) < dem.slow_seller_share
    postcode, _ = generate_postcodes(seller_region, rng)
    seller_ids = np.char.add("S", np.char.zfill(np.arange(1, n_sellers + 1).astype(str), 5))
    volume = 1.0 / np.arange(1, n_sellers + 1) ** dem.seller_zipf_exponent
    seller = rng.choice(n_sellers, n, p=volume / volume.sum())

    day = rng.choice(config.days, n, p=calendar.demand_weights(config.days))
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum()) + rng.random(n)
    created_h = np.sort(day * 24.0 + hour)
    dest = rng.choice(len(regions), n, p=population / population.sum())
    parcels = Parcels(
        origin=seller_region[seller],
        dest=dest,
        created_h=created_h,
        slow_seller=slow[seller],
        economy=rng.random(n) >= dem.standard_share,
        defect=np.full(n, "NONE"),
    )
    return parcels, _Sellers(seller_region, slow, postcode, seller_ids, seller)


def _timestamps(hours: np.ndarray, origin: pd.Timestamp) -> pd.DatetimeIndex:
    micros = np.round(np.nan_to_num(hours) * 3_600_000_000).astype("int64")
    out = pd.to_datetime(micros + origin.value // 1000, unit="us", utc=True)
    return out.where(~np.isnan(hours))


def _shipments(
    config: SimulationConfig,
    network: Network,
    parcels: Parcels,
    sellers: _Sellers,
    addresses: AddressBatch,
    journeys: Journeys,
    ids: np.ndarray,
    origin_time: pd.Timestamp,
    end_h: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    n = len(parcels)
    regions = network.regions
    names = regions["region"].to_numpy()
    lat, lon = regions["lat"].to_numpy(), regions["lon"].to_numpy()
    jitter = rng.normal(0.0, 0.03, (4, n))
    delivered_h = np.where(journeys.delivered_h <= end_h, journeys.delivered_h, np.nan)
    finished = ~np.isnan(delivered_h)
    returned = journeys.returned_h <= end_h
    status = np.full(n, None, dtype=object)
    status[returned] = "RETURNED"
    status[finished] = "DELIVERED"
    defect = np.asarray(addresses.defect)
    # Geocoding fails now and then, far more often on malformed addresses.
    geocode_fail_prob = np.where(np.isin(defect, ["TYPO", "OLD_STYLE"]), 0.3, 0.01)
    geocoded = rng.random(n) >= geocode_fail_prob
    return pd.DataFrame(
        {
            "shipment_id": ids,
            "created_at": _timestamps(parcels.created_h, origin_time),
            "promised_at": _timestamps(journeys.promised_h, origin_time),
            "service_level": np.where(parcels.economy, "ECONOMY", "STANDARD"),
            "carrier": config.carrier,
            "origin_region": names[parcels.origin],
            "origin_postcode": sellers.postcode[sellers.choice],
            "origin_lat": lat[parcels.origin] + jitter[0],
            "origin_lon": lon[parcels.origin] + jitter[1],
            "dest_region": names[parcels.dest],
            "dest_postcode": addresses.postcode,
            "dest_lat": np.where(geocoded, lat[parcels.dest] + jitter[2], np.nan),
            "dest_lon": np.where(geocoded, lon[parcels.dest] + jitter[3], np.nan),
            "dest_address": addresses.address,
            "recipient_phone": addresses.phone,
            "weight_kg": np.round(np.clip(rng.lognormal(np.log(1.2), 0.9, n), 0.05, 30.0), 2),
            "declared_value": np.round(rng.lognormal(np.log(25_000), 1.0, n), -2),
            "seller_id": sellers.ids[sellers.choice],
            "delivered_at": _timestamps(delivered_h, origin_time),
            "final_status": status,
        }
    )


def _events(
    journeys: Journeys,
    network: Network,
    ids: np.ndarray,
    origin_time: pd.Timestamp,
    end_h: float,
) -> pd.DataFrame:
    ev = journeys.events.arrays()
    seen = ev["time_h"] <= end_h
    ev = {k: v[seen] for k, v in ev.items()}
    locations = network.table(journeys.hub_capacity, journeys.terminal_capacity)["location_id"]
    region_names = network.regions["region"].tolist()
    shipment_id = pa.array(ids).take(pa.array(ev["parcel"]))
    return pd.DataFrame(
        {
            "shipment_id": pd.Series(shipment_id),
            "event_time": _timestamps(ev["time_h"], origin_time),
            "event_type": pd.Categorical.from_codes(ev["kind"], categories=list(EVENT_TYPES)),
            "location_id": pd.Categorical.from_codes(ev["location"], categories=list(locations)),
            "region": pd.Categorical.from_codes(ev["region"], categories=region_names),
        }
    )


def _hidden_causes(journeys: Journeys, defect: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    parts = []
    for cause in CAUSES:
        hours = journeys.cause_hours[cause]
        touched = hours > 0
        if cause == "ADDRESS":
            touched |= defect != "NONE"
        rows = np.flatnonzero(touched)
        parts.append(
            pd.DataFrame(
                {
                    "shipment_id": ids[rows],
                    "cause": cause,
                    "detail": defect[rows] if cause == "ADDRESS" else "",
                    "delay_h": np.round(hours[rows], 3),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).astype(
        {"shipment_id": "str", "cause": "category", "detail": "category", "delay_h": "float64"}
    )
