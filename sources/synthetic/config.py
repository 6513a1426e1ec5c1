"""Every knob of the simulated world, with the reason for its default.

Defaults are calibrated so that the world matches what Korean parcel networks report and the
calibration targets in `tests/data/test_calibration.py` hold (docs/simulator.md lists them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from pathlib import Path

# Share of addresses by building type; only apartments have a 동/호 unit that can go missing.
APARTMENT_SHARE, OFFICE_SHARE = 0.55, 0.2


@dataclass(frozen=True)
class AddressDefectRates:
    """Share of all parcels with each defect (at most one per parcel).

    Korean carriers attribute a few percent of failed first attempts to address and contact
    problems; these defaults give about 6% of parcels some defect, most of them harmless.

    Attributes:
        missing_unit: Apartment address without its 동/호 (the courier cannot find the door).
        postcode_mismatch: Postcode of another district (sorted to the wrong route).
        old_style: Old lot-number (지번) address instead of the road-name address.
        typo: A misspelt road name that matches no known road.
        phone_missing: No recipient phone: the courier cannot call ahead.
        phone_invalid: A malformed phone number.
    """

    missing_unit: float = 0.02
    postcode_mismatch: float = 0.01
    old_style: float = 0.012
    typo: float = 0.01
    phone_missing: float = 0.006
    phone_invalid: float = 0.006

    def __post_init__(self) -> None:
        total = sum(getattr(self, f.name) for f in fields(self))
        if any(getattr(self, f.name) < 0 for f in fields(self)) or total > 1:
            raise ValueError(f"defect rates must be >= 0 and sum to at most 1, got {self}")
        if self.missing_unit > APARTMENT_SHARE:
            raise ValueError(f"missing_unit cannot exceed the apartment share {APARTMENT_SHARE}")


@dataclass(frozen=True)
class DemandConfig:
    """Parcel volume and promises.

    Attributes:
        weekday_factors: Order volume Monday..Sunday relative to an average day; Korean
            e-commerce peaks on Monday (weekend orders) and is quiet at the weekend.
        pre_holiday_peak: Volume multiplier in the `pre_holiday_days` before Seollal and
            Chuseok (gift season: carriers report roughly double volume; docs/simulator.md
            has how the value was chosen).
        pre_holiday_days: Length of the pre-holiday gift rush.
        family_holiday_demand: Volume multiplier on Seollal and Chuseok themselves (people
            travel home and shop less).
        november_peak: Volume multiplier during the November shopping events
            (11.11 and Korea Sale Festa / Black Friday weeks, `november_peak_days`).
        november_peak_days: Day-of-month ranges of November events, inclusive.
        pickup_cutoff_hour: Local hour before which an order ships the same business day.
        standard_share: Share of STANDARD parcels; the rest are ECONOMY (one more day promised).
        slow_seller_share: Share of sellers who often hand parcels over late.
        slow_seller_late_prob: Chance a slow seller's parcel is handed over 1-2 days late.
        normal_seller_late_prob: The same for every other seller.
        sellers_per_10k: Sellers per 10,000 shipments.
        seller_zipf_exponent: Seller volumes follow a Zipf law with this exponent (0.7: the
            largest seller ships a few percent of all parcels, as a big marketplace merchant).
    """

    weekday_factors: tuple[float, ...] = (1.3, 1.1, 1.05, 1.0, 0.95, 0.65, 0.45)
    pre_holiday_peak: float = 1.8
    pre_holiday_days: int = 12
    family_holiday_demand: float = 0.5
    november_peak: float = 1.6
    november_peak_days: tuple[tuple[int, int], ...] = ((9, 13), (24, 30))
    pickup_cutoff_hour: float = 16.0
    standard_share: float = 0.85
    slow_seller_share: float = 0.04
    slow_seller_late_prob: float = 0.25
    normal_seller_late_prob: float = 0.005
    sellers_per_10k: float = 40.0
    seller_zipf_exponent: float = 0.7


@dataclass(frozen=True)
class OperationsConfig:
    """Hubs, line-haul and last mile.

    Attributes:
        hub_capacity_headroom: Hub daily capacity over a busy ordinary day's volume (the 80th
            percentile outside peaks); volume above it leaves a backlog carried over to the
            next days (first in, first out).
        peak_surge_capacity: Extra shifts hubs add on known peak days and for
            `post_holiday_surge_days` after a holiday closure (capacity multiplier); less than
            the peak demand, so peaks still queue, but the queue clears in days.
        post_holiday_surge_days: See `peak_surge_capacity`.
        courier_surge_capacity: Couriers cannot be hired like sorting shifts: their capacity
            multiplier on peak days is smaller, so terminals hold parcels over to the next day
            in peaks (the "parcel crunch" Korean carriers see before holidays).
        hub_sort_hours: Normal hub dwell (sorting), uniform range.
        terminal_handling_hours: Time from pickup to departure at the origin terminal.
        delivery_waves: Local hours when couriers leave the terminal; a parcel must be at the
            terminal `wave_cutoff_hours` before a wave to ride it.
        wave_cutoff_hours: See `delivery_waves`.
        delivery_round_hours: Time from leaving the terminal to the door, uniform range.
        remote_extra_hours: Extra last-mile time in remote regions.
        base_failed_attempt_prob: Chance an attempt fails with a clean address (nobody home).
        defect_failed_attempt_prob: Chance an attempt fails, by address/contact defect; after
            a failure the terminal calls or texts the recipient, so each retry fails with
            `retry_fail_factor` times that chance.
        retry_fail_factor: See `defect_failed_attempt_prob`.
        max_attempts: Attempts before the parcel goes back to the sender.
        island_departure_hour: Local hour of the daily ferry/air leg to Jeju.
        island_leg_hours: Duration of the island leg.
    """

    hub_capacity_headroom: float = 1.3
    peak_surge_capacity: float = 1.4
    post_holiday_surge_days: int = 7
    courier_surge_capacity: float = 1.0
    hub_sort_hours: tuple[float, float] = (1.5, 3.5)
    terminal_handling_hours: tuple[float, float] = (0.5, 1.5)
    delivery_waves: tuple[float, ...] = (8.0, 14.0)
    wave_cutoff_hours: float = 0.5
    delivery_round_hours: tuple[float, float] = (0.5, 6.5)
    remote_extra_hours: float = 1.5
    base_failed_attempt_prob: float = 0.012
    defect_failed_attempt_prob: dict[str, float] = field(
        default_factory=lambda: {
            "MISSING_UNIT": 0.55,
            "POSTCODE_MISMATCH": 0.45,
            "OLD_STYLE": 0.3,
            "TYPO": 0.35,
            "PHONE_MISSING": 0.35,
            "PHONE_INVALID": 0.35,
        }
    )
    retry_fail_factor: float = 0.5
    max_attempts: int = 3
    island_departure_hour: float = 20.0
    island_leg_hours: tuple[float, float] = (8.0, 11.0)


@dataclass(frozen=True)
class WeatherEffects:
    """How weather slows and stops parcels.

    Attributes:
        heavy_rain_mm: Daily precipitation from which rain slows trucks and couriers.
        typhoon_rain_mm: Typhoon-strength rain: deliveries in the region stop for the day.
        heavy_rain_linehaul_factor: Line-haul time multiplier into a heavy-rain region.
        snow_linehaul_factor: Line-haul time multiplier into a snowy region.
        heavy_rain_carryover_prob: Chance a courier round misses the day in heavy rain.
        snow_carryover_prob: Chance a courier round misses the day in snow.
        typhoon_carryover_prob: Chance a delivery is called off in typhoon-strength rain.
        island_cancel_rain_mm: Island legs are cancelled from this rain at the gateway or island.
        island_cancel_wind_ms: ... or from this wind.
    """

    heavy_rain_mm: float = 30.0
    typhoon_rain_mm: float = 80.0
    heavy_rain_linehaul_factor: float = 1.3
    snow_linehaul_factor: float = 1.6
    heavy_rain_carryover_prob: float = 0.2
    snow_carryover_prob: float = 0.2
    typhoon_carryover_prob: float = 0.9
    island_cancel_rain_mm: float = 30.0
    island_cancel_wind_ms: float = 14.0


@dataclass(frozen=True)
class StoppageConfig:
    """Regional stoppages: a strike or system outage that stalls a region's terminal.

    Attributes:
        per_30_days: Expected stoppages across the whole network per 30 days.
        duration_days: Inclusive range of a stoppage's length in days.
    """

    per_30_days: float = 0.7
    duration_days: tuple[int, int] = (2, 5)


@dataclass(frozen=True)
class HubOutage:
    """A hub that sorts nothing for `days` local days from `first_day` (a fire, a system outage).

    Parcels keep arriving and queue first in first out; from the day after the outage the hub
    sorts at its normal daily capacity again (no extra shifts) until the backlog has cleared.
    Unlike `StoppageConfig`'s random stoppages, an outage is chosen by the user, so a test can
    replay a disruption the model never saw.

    Attributes:
        hub: Location id of the hub (a key of `network.HUBS`, e.g. "HUB-DAEGU-YEONGNAM").
        first_day: First local day without sorting.
        days: Number of local days without sorting (at least 1).
    """

    hub: str
    first_day: dt.date
    days: int

    def __post_init__(self) -> None:
        # Imported here, not at the top: the network pulls in numpy and pandas, and the CLI
        # reads this module for its help, which must stay fast.
        from sources.synthetic.network import HUBS

        if self.hub not in HUBS:
            raise ValueError(f"unknown hub {self.hub!r}: choose one of {', '.join(HUBS)}")
        if self.days < 1:
            raise ValueError(f"hub outage {self} must last at least 1 day, got {self.days}")

    @property
    def last_day(self) -> dt.date:
        """Last local day without sorting."""
        return self.first_day + dt.timedelta(days=self.days - 1)

    def __str__(self) -> str:
        """The outage as the CLI spells it: HUB:YYYY-MM-DD:DAYS."""
        return f"{self.hub}:{self.first_day.isoformat()}:{self.days}"


@dataclass(frozen=True)
class SimulationConfig:
    """A simulated world: how many parcels, when, and every delay mechanism's parameters.

    Attributes:
        shipments: Parcels created over the whole world.
        start: First local day of the world. The default world spans 13 months (December
            2024 to December 2025), so the months a model trains on hold a winter, Seollal,
            Chuseok and regional stoppages before the months it is evaluated on.
        days: Length of the world; it ends at local midnight after the last day, with parcels
            still in flight.
        seed: Seed of every random draw; the same config gives the same world.
        weather_csv: Real daily weather (the `weather_kr` file) instead of the generator.
        carrier: Carrier name on every shipment.
        forecast_horizon_days: Days ahead the weather forecasts reach.
        hub_outages: Hub outages to inject (none by default); every outage day must fall
            inside the world (`start` to its last day). The world records their truth in
            `SimulatedWorld.hub_outages` and `outage_waits`; without outages the world is
            exactly the one the same config gave before outages existed.
    """

    shipments: int = 100_000
    start: dt.date = dt.date(2024, 12, 1)
    days: int = 393
    seed: int = 7
    weather_csv: Path | None = None
    carrier: str = "STALLGUARD-LOGIS"
    forecast_horizon_days: int = 5
    demand: DemandConfig = field(default_factory=DemandConfig)
    operations: OperationsConfig = field(default_factory=OperationsConfig)
    weather_effects: WeatherEffects = field(default_factory=WeatherEffects)
    stoppages: StoppageConfig = field(default_factory=StoppageConfig)
    address_defects: AddressDefectRates = field(default_factory=AddressDefectRates)
    hub_outages: tuple[HubOutage, ...] = ()

    def __post_init__(self) -> None:
        if self.shipments < 1:
            raise ValueError(f"shipments must be at least 1, got {self.shipments}")
        if self.days < 7:
            raise ValueError(f"days must be at least 7 (a week of demand), got {self.days}")
        for outage in self.hub_outages:
            self._check_inside(outage)

    @property
    def last_day(self) -> dt.date:
        """The world's last local day."""
        return self.start + dt.timedelta(days=self.days - 1)

    def _check_inside(self, outage: HubOutage) -> None:
        """Reject an outage with a day outside the world (it would silently do nothing)."""
        if outage.first_day < self.start or outage.last_day > self.last_day:
            raise ValueError(
                f"hub outage {outage} ({outage.first_day} to {outage.last_day}) must fall "
                f"inside the world, {self.start} to {self.last_day}"
            )
