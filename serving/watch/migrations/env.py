"""Alembic environment of the watch store (serving/database.py runs it)."""

from serving.database import run_migrations
from serving.watch.schema import metadata

run_migrations(metadata)
