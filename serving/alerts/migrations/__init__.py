"""Alembic migrations of the alert state and outbox (serving/alerts/schema.py is the head)."""
