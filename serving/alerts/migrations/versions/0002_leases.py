"""Leases, so any number of senders share one outbox; and when a row (re-)entered the queue.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease and queued_at columns (queued_at of existing rows: their creation)."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("queued_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE outbox SET queued_at = created_at")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("queued_at", existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("queued_at")
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
