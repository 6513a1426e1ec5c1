"""The canonical data contract as code: one `Column` definition per field.

One definition per table feeds data validation (contract/validation.py, pandera schemas
generated from it), the MLflow signature (training/pyfunc.py) and the API request models
(serving/schemas.py); docs/architecture.md shows the flow.

Timestamps are timezone-aware UTC (`datetime64[us, UTC]`); calendar dates (weather) are naive
midnights meaning the region's local day. Low-cardinality text columns are `category`,
identifiers and free text are `str`.
"""

from __future__ import annotations

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
