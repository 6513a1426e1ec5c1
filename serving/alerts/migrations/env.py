"""Alembic environment of the alerts store (serving/database.py runs it)."""

from serving.alerts.schema import metadata
from serving.database import run_migrations

run_migrations(metadata)
