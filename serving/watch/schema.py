"""The watch's state store: tables generated from the data contract, migrated with Alembic.

Shipments, scans, weather and the network hold the contract's columns (their SQL types and
lengths from `contract.schema`), except the address and phone: a shipment keeps the address
features derived from them at ingest (`address_quality` columns) and a keyed hash, never the
text. Predictions: the current one per shipment, and an append-only log of every pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from contract.schema import (
    ADDRESS_QUALITY_COLUMNS,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
    Column,
    TableSchema,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "watch_schema_version"
metadata = sa.MetaData()


_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "timestamp": sa.DateTime(),
    "date": sa.Date(),
    "float": sa.Float(),
    "int": sa.Integer(),
    "bool": sa.Boolean(),
}


def sql_type(column: Column) -> sa.types.TypeEngine[Any]:
    """The SQL type of a contract column (text lengths from the contract)."""
    if column.kind in ("str", "category"):
        return sa.String(column.max_length)
    return _SQL_TYPES[column.kind]


def _columns(
    schema: TableSchema, keys: tuple[str, ...], skip: tuple[str, ...] = ()
) -> list[sa.Column[Any]]:
    return [
        sa.Column(c.name, sql_type(c), primary_key=c.name in keys, nullable=c.nullable)
        for c in schema.columns
        if c.name not in skip
    ]


shipments = sa.Table(
    "shipments",
    metadata,
    *_columns(SHIPMENTS, ("shipment_id",), skip=("dest_address", "recipient_phone")),
    *(sa.Column(name, sa.Float(), nullable=True) for name in ADDRESS_QUALITY_COLUMNS),
    # HMAC of the address and phone under STALLGUARD_PII_KEY: the same contact, the same hash.
    sa.Column("contact_hash", sa.String(64), nullable=True),
    # A digest of every stored field: an upsert that changes nothing is a duplicate.
    sa.Column("content_hash", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    # The ingest that last inserted or changed the row (`watch_changes`).
    sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Index("ix_shipments_open", "delivered_at", "final_status"),
    sa.Index("ix_shipments_change_seq", "change_seq"),
)

scan_events = sa.Table(
    "scan_events",
    metadata,
    # A digest of (shipment, time, type, location): the same scan twice is one row.
    sa.Column("event_key", sa.String(64), primary_key=True),
    *_columns(SCAN_EVENTS, ()),
    sa.Column("ingested_at", sa.DateTime(), nullable=False),
    sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Index("ix_scan_events_shipment", "shipment_id", "event_time"),
    sa.Index("ix_scan_events_time", "event_time"),
    sa.Index("ix_scan_events_change_seq", "change_seq"),
)

weather_daily = sa.Table("weather_daily", metadata, *_columns(WEATHER_DAILY, WEATHER_DAILY.key))
weather_forecast = sa.Table(
    "weather_forecast", metadata, *_columns(WEATHER_FORECAST, WEATHER_FORECAST.key)
)
network = sa.Table("network", metadata, *_columns(NETWORK, NETWORK.key))


def _prediction(with_as_of: bool = True) -> list[sa.Column[Any]]:
    """The columns of one prediction (reasons: [[code, share], ...] as JSON, no texts)."""
    columns: list[sa.Column[Any]] = [
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("eta_p10", sa.DateTime(), nullable=False),
        sa.Column("eta_p50", sa.DateTime(), nullable=False),
        sa.Column("eta_p90", sa.DateTime(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
    ]
    if with_as_of:
        columns.insert(0, sa.Column("as_of", sa.DateTime(), nullable=False))
    return columns


predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("shipment_id", sa.String(64), primary_key=True),
    *_prediction(),
    sa.Column("at_risk", sa.Boolean(), nullable=False),
    sa.Column("first_flagged_at", sa.DateTime(), nullable=True),
    # What the at-risk list filters and shows, as of the pass (no joins at read time).
    sa.Column("promised_at", sa.DateTime(), nullable=False),
    sa.Column("dest_region", sa.String(64), nullable=True),
    sa.Column("top_reason", sa.String(32), nullable=True),
    sa.Column("last_event_type", sa.String(64), nullable=True),
    sa.Column("last_event_time", sa.DateTime(), nullable=True),
    sa.Column("last_location_id", sa.String(64), nullable=True),
    sa.Column("last_region", sa.String(64), nullable=True),
    sa.Index("ix_predictions_risk", "risk", "shipment_id"),
    sa.Index("ix_predictions_location", "last_location_id"),
)

prediction_log = sa.Table(
    "prediction_log",
    metadata,
    sa.Column("shipment_id", sa.String(64), primary_key=True),
    *_prediction(with_as_of=False),
    sa.Column("as_of", sa.DateTime(), primary_key=True),
)

watch_passes = sa.Table(
    "watch_passes",
    metadata,
    sa.Column("as_of", sa.DateTime(), primary_key=True),
    sa.Column("context_as_of", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=False),
    sa.Column("scored", sa.Integer(), nullable=False),
    sa.Column("at_risk", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("alerts", sa.Integer(), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
)

# Per pass: how its parcels' features and risks fall in the model's reference bins, as JSON
# {column: [count per bin]} (training/reference.py); passes pool by adding counts.
pass_profiles = sa.Table(
    "pass_profiles",
    metadata,
    sa.Column("as_of", sa.DateTime(), primary_key=True),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("counts", sa.Text(), nullable=False),
)

# Numbers ingests in commit order: each ingest transaction increments the row ("ingest") and
# stamps what it wrote with the new value; a reader that saw N has seen everything up to N
# (serving/watch/mirror.py).
watch_changes = sa.Table(
    "watch_changes",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

# One watcher pass at a time across processes: whoever holds the row until `until`.
watch_lease = sa.Table(
    "watch_lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("until", sa.DateTime(), nullable=False),
)
