"""How many parcels each pass found at risk (the ops page's trend line).

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
    """Add watch_passes.at_risk (0 for passes recorded before it existed)."""
    with op.batch_alter_table("watch_passes") as batch:
        batch.add_column(sa.Column("at_risk", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("watch_passes") as batch:
        batch.drop_column("at_risk")
