"""The kind and window of the last alert sent per promise; the outbox by parcel.

The kind lets a BACK_ON_TRACK go out once per episode; the P10-P90 window lets an ETA change
be told only once the expectation leaves the window the customer was given.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns (NULL for existing rows: a LATE or ETA_CHANGED, window unknown)."""
    with op.batch_alter_table("alert_state") as batch:
        batch.add_column(sa.Column("last_alert_kind", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_alert_p10", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_alert_p90", sa.DateTime(), nullable=True))
    # A parcel's alerts, newest first (the parcel page's message).
    op.create_index("ix_outbox_shipment", "outbox", ["shipment_id", "created_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_outbox_shipment", table_name="outbox")
    with op.batch_alter_table("alert_state") as batch:
        batch.drop_column("last_alert_p90")
        batch.drop_column("last_alert_p10")
        batch.drop_column("last_alert_kind")
