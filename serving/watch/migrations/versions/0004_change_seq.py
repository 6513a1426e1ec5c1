"""Change numbers on shipments and scans, so a watcher reads only what changed since its last pass.

Every ingest transaction takes the next number from `watch_changes` (a row update, so
ingests number themselves in commit order) and stamps the rows it inserts or updates with it.
Rows stored before this revision carry 0.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add change_seq (indexed) to shipments and scan_events, and the counter."""
    for table in ("shipments", "scan_events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("change_seq", sa.BigInteger(), nullable=False, server_default="0")
            )
            batch.create_index(f"ix_{table}_change_seq", ["change_seq"])
    counter = op.create_table(
        "watch_changes",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(counter, [{"name": "ingest", "seq": 0}])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("watch_changes")
    for table in ("shipments", "scan_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_change_seq")
            batch.drop_column("change_seq")
