"""Each pass's feature and risk bin counts against the model's reference (drift monitoring).

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
    """Add pass_profiles."""
    op.create_table(
        "pass_profiles",
        sa.Column("as_of", sa.DateTime(), primary_key=True),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("pass_profiles")
