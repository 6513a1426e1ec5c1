"""The canonical data contract as code: one `Column` definition per field.

One definition per table feeds data validation (contract/validation.py, pandera schemas
generated from it), the MLflow signature (training/pyfunc.py) and the API request models
(serving/schemas.py); docs/architecture.md shows the flow.

Timestamps are timezone-aware UTC (`datetime64[us, UTC]`) between `EARLIEST` and `LATEST`;
calendar dates (weather) are naive midnights meaning the region's local day. Low-cardinality
text columns are `category`, identifiers and free text are `str`; every text column has a
length limit and a character rule (identifiers: letters, digits and `._:-`; other text: no
control characters), so a value can go into a log line, an HTTP header or a database column
as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

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
# Final without a delivery: the parcel's journey ended at its last scan, and it counts as late.
UNDELIVERED_STATUSES = tuple(s for s in FINAL_STATUSES if s != "DELIVERED")
LOCATION_KINDS = ("MEGA_HUB", "HUB", "TERMINAL")

# Every time in the contract lies in [EARLIEST, LATEST): outside it a value is a typo (year 1,
# 9999), not a parcel, and the calendar features have no holidays for it.
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

# Identifiers: what fits a URL path, a log line and a header without escaping.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
ID_MAX_LENGTH = 64
# Other text: anything printable (a control character forges log lines).
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NAME_MAX_LENGTH = 64


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
        max_length: Longest allowed text (text columns).
        pattern: Regular expression every text value matches (text columns).
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
    max_length: int | None = None
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.kind in ("str", "category") and (self.max_length is None or self.pattern is None):
            raise ValueError(f"text column {self.name!r} needs a max_length and a pattern")


def ident(name: str, description: str, nullable: bool = False, kind: ColumnKind = "str") -> Column:
    """An identifier column: letters, digits and `._:-`, at most 64 characters."""
    return Column(
        name,
        kind,
        description,
        nullable,
        max_length=ID_MAX_LENGTH,
        pattern=ID_PATTERN,
    )


def postcode(name: str, description: str) -> Column:
    """A postcode: printable, at most 16 characters (a malformed one is a feature's input)."""
    return Column(name, "str", description, True, max_length=16, pattern=PRINTABLE_PATTERN)


def label(
    name: str,
    description: str,
    nullable: bool = False,
    allowed: tuple[str, ...] | None = None,
    outcome: bool = False,
) -> Column:
    """A categorical column: printable text, at most 64 characters."""
    return Column(
        name,
        "category",
        description,
        nullable,
        allowed=allowed,
        outcome=outcome,
        max_length=NAME_MAX_LENGTH,
        pattern=PRINTABLE_PATTERN,
    )


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
        ident("shipment_id", "Unique parcel id."),
        Column("created_at", "timestamp", "When the order/parcel was created (UTC)."),
        Column("promised_at", "timestamp", "The delivery promise made to the customer (UTC)."),
        label("service_level", "Service level that set the promise."),
        label("carrier", "Carrier that moves the parcel."),
        label("origin_region", "Region of the sender.", nullable=True),
        postcode("origin_postcode", "Sender postcode."),
        Column("origin_lat", "float", "Sender latitude.", True, -90, 90),
        Column("origin_lon", "float", "Sender longitude.", True, -180, 180),
        label("dest_region", "Region of the recipient.", nullable=True),
        postcode("dest_postcode", "Recipient postcode."),
        Column("dest_lat", "float", "Recipient latitude (geocoding can fail).", True, -90, 90),
        Column("dest_lon", "float", "Recipient longitude (geocoding can fail).", True, -180, 180),
        Column(
            "dest_address",
            "str",
            "Raw recipient address text.",
            nullable=True,
            pii=True,
            max_length=300,
            pattern=PRINTABLE_PATTERN,
        ),
        Column(
            "recipient_phone",
            "str",
            "Recipient phone number.",
            nullable=True,
            pii=True,
            max_length=32,
            pattern=PRINTABLE_PATTERN,  # a malformed number is a feature, not an error
        ),
        Column("weight_kg", "float", "Parcel weight.", True, 0, 1000),
        Column("declared_value", "float", "Declared value of the goods.", True, 0, 1e12),
        ident("seller_id", "Sender (merchant) id.", nullable=True),
        label(
            "payment_type",
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
        label(
            "final_status",
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
        ident("shipment_id", "Parcel the scan belongs to."),
        Column("event_time", "timestamp", "When the scan happened (UTC)."),
        label("event_type", "What happened.", allowed=EVENT_TYPES),
        ident("location_id", "Hub or terminal of the scan.", True, "category"),
        label("region", "Region of the scan location.", nullable=True),
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
        label("region", "Region observed."),
        Column("date", "date", "Local calendar day."),
        *_WEATHER_MEASURES,
    ),
)

WEATHER_FORECAST = TableSchema(
    name="weather_forecast",
    key=("region", "issued_date", "target_date"),
    columns=(
        label("region", "Region forecast."),
        Column("issued_date", "date", "Local day the forecast was issued."),
        Column("target_date", "date", "Local day the forecast is for."),
        *_WEATHER_MEASURES,
    ),
)

NETWORK = TableSchema(
    name="network",
    key=("location_id",),
    columns=(
        ident("location_id", "Hub or terminal id."),
        label("kind", "MEGA_HUB, HUB or TERMINAL.", allowed=LOCATION_KINDS),
        label("region", "Region the location is in."),
        Column("lat", "float", "Latitude.", True, -90, 90),
        Column("lon", "float", "Longitude.", True, -180, 180),
        Column("daily_capacity", "float", "Parcels it can process per day.", True, 0),
    ),
)

# What the address features need, derived from the address and phone where they are read
# (`features.address.address_quality`), for stores that must not keep the text: a shipment
# with a row here and no address text is scored from these values, the same the text gives.
ADDRESS_QUALITY_COLUMNS = (
    "addr_parse_ok",
    "addr_completeness",
    "addr_has_unit",
    "addr_old_style",
    "addr_road_unknown",
    "addr_postcode_district_match",
    "addr_phone_missing",
    "addr_phone_valid",
)

ADDRESS_QUALITY = TableSchema(
    name="address_quality",
    key=("shipment_id",),
    columns=(
        ident("shipment_id", "Parcel whose address and phone these describe."),
        *(
            Column(
                name,
                "float",
                "Derived from the address and phone (features/address.py).",
                True,
                0,
                1,
            )
            for name in ADDRESS_QUALITY_COLUMNS
        ),
    ),
)

TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (SHIPMENTS, SCAN_EVENTS, WEATHER_DAILY, WEATHER_FORECAST, NETWORK, ADDRESS_QUALITY)
}

PII_COLUMNS = tuple(c.name for c in SHIPMENTS.columns if c.pii)
OUTCOME_COLUMNS = tuple(c.name for c in SHIPMENTS.columns if c.outcome)
