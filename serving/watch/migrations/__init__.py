"""Alembic migrations of the watch state store (serving/watch/schema.py is the head)."""
