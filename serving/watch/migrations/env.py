"""Alembic environment: run on the connection `serving.alerts.schema.upgrade` passes in."""

from __future__ import annotations

from alembic import context

from serving.watch.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
    version_table=context.config.attributes["version_table"],
)
with context.begin_transaction():
    context.run_migrations()
