"""The alert state and outbox tables, and bringing a database up to them with Alembic.

The tables below are the head of the migrations in serving/alerts/migrations/versions/;
the store runs whatever a database is missing when it first connects; one made before
migrations existed (tables, no version table) is stamped at the first revision, then upgraded
(serving/database.py).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alert_schema_version"

metadata = sa.MetaData()

alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("shipment_id", sa.String(128), primary_key=True),
    sa.Column("promised_at", sa.DateTime(), primary_key=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    # P50 ETA of the last alert sent for this promise; NULL: no alert sent yet.
    sa.Column("last_alert_p50", sa.DateTime(), nullable=True),
    # Kind of that alert (a BACK_ON_TRACK answers the one before it); NULL: none sent, or sent
    # before the column existed (then a LATE or ETA_CHANGED).
    sa.Column("last_alert_kind", sa.String(32), nullable=True),
    # The P10-P90 window of that alert: an ETA change is told only once P50 leaves it.
    sa.Column("last_alert_p10", sa.DateTime(), nullable=True),
    sa.Column("last_alert_p90", sa.DateTime(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("shipment_id", sa.String(128), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
    sa.Column("delivered_at", sa.DateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    # Which sender holds the row, until when: others skip it meanwhile.
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(), nullable=True),
    # When the row (re-)entered the queue: the retry horizon counts from here.
    sa.Column("queued_at", sa.DateTime(), nullable=False),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_shipment", "shipment_id", "created_at"),
)
