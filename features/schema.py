"""The canonical data contract (DESIGN.md section 3) as code.

One definition per table feeds data validation here, and later the MLflow signature and the
API request models. Timestamps are timezone-aware UTC (`datetime64[us, UTC]`); calendar dates
(weather) are naive midnights meaning the region's local day. Low-cardinality text columns are
`category`, identifiers and free text are `str`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from features.tables import Tables
    from features.validation import ValidationResult

ColumnKind = Literal["str", "category", "timestamp", "date", "float", "int", "bool"]

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
DATE_DTYPE = "datetime64[us]"

EVENT_TYPES = (
    "CREATED",
    "PICKED_UP",
    "HUB_IN",
    "HUB_OUT",
    "TERMINAL_IN",
    "OUT_FOR_DELIVERY",
    "DELIVERY_FAILED",
    "DELIVERED",
    "EXCEPTION",
)
FINAL_STATUSES = ("DELIVERED", "RETURNED", "CANCELED", "LOST")
LOCATION_KINDS = ("MEGA_HUB", "HUB", "TERMINAL")


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Attributes:
        name: Column name.
        kind: Logical type; validation coerces to it and rejects rows that do not fit.
        nullable: Whether a missing value is allowed.
        min_value: Smallest allowed value for numeric columns.
        max_value: Largest allowed value for numeric columns.
        allowed: Closed vocabulary for categorical columns (None = open: unknown values are normal).
        pii: Personal data: never logged, never stored outside the canonical tables.
        outcome: Known only once the shipment is finished; never an input to a prediction.
        description: What the column means.
    """

    name: str
    kind: ColumnKind
    description: str
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    pii: bool = False
    outcome: bool = False


@dataclass(frozen=True)
class TableSchema:
    """A canonical table: its columns and the columns that identify a row."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    unique_key: bool = True

    @property
    def column_names(self) -> list[str]:
        """All column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


SHIPMENTS = TableSchema(
    name="shipments",
    key=("shipment_id",),
    columns=(
        Column("shipment_id", "str", "Unique parcel id."),
        Column("created_at", "timestamp", "When the order/parcel was created (UTC)."),
        Column("promised_at", "timestamp", "The delivery promise made to the customer (UTC)."),
        Column("service_level", "category", "Service level that set the promise."),
        Column("carrier", "category", "Carrier that moves the parcel."),
        Column("origin_region", "category", "Region of the sender.", nullable=True),
        Column("origin_postcode", "str", "Sender postcode.", nullable=True),
        Column("origin_lat", "float", "Sender latitude.", True, -90, 90),
        Column("origin_lon", "float", "Sender longitude.", True, -180, 180),
        Column("dest_region", "category", "Region of the recipient.", nullable=True),
        Column("dest_postcode", "str", "Recipient postcode.", nullable=True),
        Column("dest_lat", "float", "Recipient latitude (geocoding can fail).", True, -90, 90),
        Column("dest_lon", "float", "Recipient longitude (geocoding can fail).", True, -180, 180),
        Column("dest_address", "str", "Raw recipient address text.", nullable=True, pii=True),
        Column("recipient_phone", "str", "Recipient phone number.", nullable=True, pii=True),
        Column("weight_kg", "float", "Parcel weight.", True, 0, 1000),
        Column("declared_value", "float", "Declared value of the goods.", True, 0),
        Column("seller_id", "str", "Sender (merchant) id.", nullable=True),
        Column(
            "payment_type",
            "category",
            "How the order was paid (e.g. credit_card, boleto, voucher); open vocabulary.",
            nullable=True,
        ),
        Column(
            "payment_installments",
            "float",
            "Number of installments the payment is split into.",
            True,
            0,
            120,
        ),
        Column(
            "delivered_at",
            "timestamp",
            "When it was delivered (UTC); empty while in flight or if never delivered.",
            nullable=True,
            outcome=True,
        ),
        Column(
            "final_status",
            "category",
            "How the journey ended; empty while in flight.",
            nullable=True,
            allowed=FINAL_STATUSES,
            outcome=True,
        ),
    ),
)

SCAN_EVENTS = TableSchema(
    name="scan_events",
    key=("shipment_id", "event_time", "event_type"),
    unique_key=False,
    columns=(
        Column("shipment_id", "str", "Parcel the scan belongs to."),
        Column("event_time", "timestamp", "When the scan happened (UTC)."),
        Column("event_type", "category", "What happened.", allowed=EVENT_TYPES),
        Column("location_id", "category", "Hub or terminal of the scan.", nullable=True),
        Column("region", "category", "Region of the scan location.", nullable=True),
    ),
)

_WEATHER_MEASURES = (
    Column("precip_mm", "float", "Precipitation of the day.", False, 0, 2000),
    Column("temp_min_c", "float", "Daily minimum temperature.", True, -60, 60),
    Column("temp_max_c", "float", "Daily maximum temperature.", True, -60, 60),
    Column("snow", "bool", "Snow fell that day."),
    Column("wind_max_ms", "float", "Maximum wind speed.", True, 0, 150),
    Column("weather_code", "float", "WMO 4677 weather code.", True, 0, 99),
)

WEATHER_DAILY = TableSchema(
    name="weather_daily",
    key=("region", "date"),
    columns=(
        Column("region", "category", "Region observed."),
        Column("date", "date", "Local calendar day."),
        *_WEATHER_MEASURES,
    ),
)

WEATHER_FORECAST = TableSchema(
    name="weather_forecast",
    key=("region", "issued_date", "target_date"),
    columns=(
        Column("region", "category", "Region forecast."),
        Column("issued_date", "date", "Local day the forecast was issued."),
        Column("target_date", "date", "Local day the forecast is for."),
        *_WEATHER_MEASURES,
    ),
)

NETWORK = TableSchema(
    name="network",
    key=("location_id",),
    columns=(
        Column("location_id", "str", "Hub or terminal id."),
        Column("kind", "category", "MEGA_HUB, HUB or TERMINAL.", allowed=LOCATION_KINDS),
        Column("region", "category", "Region the location is in."),
        Column("lat", "float", "Latitude.", True, -90, 90),
        Column("lon", "float", "Longitude.", True, -180, 180),
        Column("daily_capacity", "float", "Parcels it can process per day.", True, 0),
    ),
)

TABLES: dict[str, TableSchema] = {
    t.name: t for t in (SHIPMENTS, SCAN_EVENTS, WEATHER_DAILY, WEATHER_FORECAST, NETWORK)
}

PII_COLUMNS = tuple(c.name for c in SHIPMENTS.columns if c.pii)
OUTCOME_COLUMNS = tuple(c.name for c in SHIPMENTS.columns if c.outcome)


def validate(tables: Tables) -> ValidationResult:
    """Valid rows of every table plus a report of each rejected row (table, key, rule).

    See `features.validation.validate_tables`; defined here so the contract and its check
    are found in one place.
    """
    # Imported late: the validator is built on the definitions above.
    from features.validation import validate_tables

    return validate_tables(tables)


# --- Features (DESIGN.md section 4) ----------------------------------------------------------
FeatureKind = Literal["numeric", "category"]

FAMILIES = ("route", "progress", "hub_load", "weather", "address", "calendar", "history", "order")


@dataclass(frozen=True)
class Feature:
    """One column of the feature frame `features.build.build_features` returns.

    Attributes:
        name: Column name (prefixed by its family).
        family: Feature family (one module each); reasons are summed per family.
        kind: numeric (float64) or category.
        description: What it measures.
        point_in_time: What it may see at `as_of` (DESIGN.md section 4).
    """

    name: str
    family: str
    kind: FeatureKind
    description: str
    point_in_time: str


_STATIC = "static shipment fields known at creation"
_EVENTS = "scan events with event_time <= as_of"
_HUBS = "scan events before the last full hour <= as_of (all shipments)"
_DONE = "shipments/events completed before the UTC day of as_of"
_DUE = "promises that fell due before the UTC day of as_of (missed: not delivered by then)"
_OBS = "observations of local days completed by as_of"
_FC = "forecasts issued on or before the local day of as_of"


def _f(
    name: str, family: str, description: str, rule: str, kind: FeatureKind = "numeric"
) -> Feature:
    return Feature(name, family, kind, description, rule)


FEATURES: tuple[Feature, ...] = (
    # route
    _f("route_distance_km", "route", "Great-circle origin-destination distance.", _STATIC),
    _f("route_n_hubs", "route", "Hubs on the expected path (1 same hub, 2 otherwise).", _STATIC),
    _f("route_lane", "route", "Lane id 'origin>destination' region.", _STATIC, "category"),
    _f("route_origin_region", "route", "Origin region.", _STATIC, "category"),
    _f("route_dest_region", "route", "Destination region.", _STATIC, "category"),
    _f("route_is_island", "route", "Destination is an island (ferry/air leg).", _STATIC),
    _f("route_is_remote", "route", "Destination is a remote region.", _STATIC),
    _f("route_service_level", "route", "Service level of the promise.", _STATIC, "category"),
    _f("route_weight_kg", "route", "Parcel weight.", _STATIC),
    _f(
        "route_dest_lat",
        "route",
        "Destination latitude (the region's terminal if missing).",
        _STATIC,
    ),
    _f(
        "route_dest_lon",
        "route",
        "Destination longitude (the region's terminal if missing).",
        _STATIC,
    ),
    # progress
    _f("prog_last_event", "progress", "Type of the last scan.", _EVENTS, "category"),
    _f("prog_last_location", "progress", "Location of the last scan.", _EVENTS, "category"),
    _f("prog_stage", "progress", "Journey stage 0 (none) .. 7 (delivered).", _EVENTS),
    _f("prog_n_events", "progress", "Scans so far.", _EVENTS),
    _f("prog_hours_since_scan", "progress", "Hours since the last scan.", _EVENTS),
    _f(
        "prog_normal_gap_h",
        "progress",
        "Median hours to the next scan after this scan type.",
        _DONE,
    ),
    _f(
        "prog_gap_ratio",
        "progress",
        "Hours since the last scan over the normal gap (stalling).",
        _EVENTS,
    ),
    _f(
        "prog_hours_to_promise",
        "progress",
        "Hours left until the promise (negative: overdue).",
        _STATIC,
    ),
    _f("prog_hours_since_created", "progress", "Age of the parcel.", _STATIC),
    _f("prog_hubs_passed", "progress", "Hubs the parcel has left.", _EVENTS),
    _f("prog_remaining_legs", "progress", "Expected hubs still ahead.", _EVENTS),
    _f("prog_failed_attempts", "progress", "Failed delivery attempts so far.", _EVENTS),
    _f("prog_exceptions", "progress", "Exception scans so far (holds, stoppages).", _EVENTS),
    # hub load (origin hub, destination hub, destination terminal, current location)
    *(
        _f(f"hub_{where}_{what}", "hub_load", f"{label} at the {place}.", _HUBS)
        for where, place in (
            ("origin", "origin hub"),
            ("dest", "destination hub"),
            ("terminal", "destination terminal"),
            ("current", "current location"),
        )
        for what, label in (
            ("inflow_ratio", "Parcels in over the last 24 h / daily capacity"),
            ("on_hand_ratio", "Parcels in but not out / daily capacity (backlog)"),
            ("dwell_h", "Mean dwell of parcels that left in the last 24 h"),
        )
    ),
    # weather
    _f("wx_dest_precip_1d", "weather", "Destination rain on the last completed day (mm).", _OBS),
    _f("wx_dest_precip_3d", "weather", "Destination rain over the last 3 completed days.", _OBS),
    _f("wx_dest_snow_3d", "weather", "Snow at the destination in the last 3 completed days.", _OBS),
    _f("wx_origin_precip_1d", "weather", "Origin rain on the last completed day.", _OBS),
    _f("wx_current_precip_1d", "weather", "Rain at the current location's region.", _OBS),
    _f("wx_hub_precip_1d", "weather", "Rain at the destination hub's region (line-haul).", _OBS),
    _f(
        "wx_dest_fc_precip_max",
        "weather",
        "Max forecast daily rain at the destination, today to the promised day.",
        _FC,
    ),
    _f("wx_dest_fc_snow", "weather", "Snow forecast at the destination before the promise.", _FC),
    _f(
        "wx_dest_fc_wind_max",
        "weather",
        "Max forecast wind at the destination before the promise.",
        _FC,
    ),
    _f(
        "wx_hub_fc_precip_today",
        "weather",
        "Forecast rain today at the destination hub's region.",
        _FC,
    ),
    _f(
        "wx_current_fc_precip_today", "weather", "Forecast rain today at the current location.", _FC
    ),
    _f(
        "wx_dest_severity",
        "weather",
        "Weather severity at the destination (rain/30 mm + snow + wind/14 m/s).",
        _FC,
    ),
    # address quality
    _f("addr_parse_ok", "address", "Address parsed into province and district.", _STATIC),
    _f("addr_completeness", "address", "Share of address components present.", _STATIC),
    _f("addr_has_unit", "address", "Unit detail (동/호, floor) present.", _STATIC),
    _f("addr_old_style", "address", "Old lot-number style address.", _STATIC),
    _f("addr_road_unknown", "address", "Road name not in the road list (likely typo).", _STATIC),
    _f("addr_postcode_district_match", "address", "Postcode lies in the named district.", _STATIC),
    _f("addr_phone_missing", "address", "No recipient phone.", _STATIC),
    _f("addr_phone_valid", "address", "Phone number is well formed.", _STATIC),
    _f(
        "addr_postcode_fail_rate",
        "address",
        "Failed-attempt rate at the destination postcode (smoothed).",
        _DONE,
    ),
    # calendar
    _f("cal_weekday", "calendar", "Local weekday of as_of (0 Monday).", _STATIC),
    _f("cal_hour", "calendar", "Local hour of as_of.", _STATIC),
    _f(
        "cal_created_hour",
        "calendar",
        "Local hour the parcel was created (vs pickup cut-off).",
        _STATIC,
    ),
    _f("cal_promised_weekday", "calendar", "Local weekday of the promised day.", _STATIC),
    _f("cal_promise_lead_h", "calendar", "Hours from creation to the promise.", _STATIC),
    _f("cal_is_holiday", "calendar", "as_of falls on a public holiday.", _STATIC),
    _f("cal_days_to_holiday", "calendar", "Days from as_of to the next public holiday.", _STATIC),
    _f(
        "cal_holidays_before_promise",
        "calendar",
        "Public holidays between as_of and the promise.",
        _STATIC,
    ),
    _f("cal_peak_season", "calendar", "Peak period (pre-holiday rush, shopping events).", _STATIC),
    # history
    _f("hist_lane_late_rate", "history", "Lane late rate, trailing 28 days, smoothed.", _DONE),
    _f("hist_lane_n", "history", "Lane deliveries in the trailing window.", _DONE),
    _f("hist_lane_transit_p50_h", "history", "Lane median creation-to-delivery hours.", _DONE),
    _f(
        "hist_lane_transit_p90_h",
        "history",
        "Lane 90th percentile creation-to-delivery hours.",
        _DONE,
    ),
    _f(
        "hist_seller_handover_h",
        "history",
        "Seller mean creation-to-pickup hours, smoothed.",
        _DONE,
    ),
    _f("hist_seller_n", "history", "Seller pickups in the trailing window.", _DONE),
    _f(
        "hist_dest_missed_rate",
        "history",
        "Share of promises to the destination region that fell due in the last 2 days and were "
        "missed, smoothed.",
        _DUE,
    ),
    _f(
        "hist_origin_missed_rate",
        "history",
        "Share of promises from the origin region due in the last 2 days that were missed.",
        _DUE,
    ),
    _f(
        "hist_network_missed_rate",
        "history",
        "Share of all promises due in the last 2 days that were missed.",
        _DUE,
    ),
    # order
    _f("order_value", "order", "Declared value of the goods (the order's payment total).", _STATIC),
    _f("order_payment_type", "order", "How the order was paid.", _STATIC, "category"),
    _f("order_installments", "order", "Installments the payment is split into.", _STATIC),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "category")


def features_of(family: str) -> tuple[str, ...]:
    """Feature names of one family, in frame order."""
    return tuple(f.name for f in FEATURES if f.family == family)
