"""Alembic environment: runs against the connection Carehub hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from carehub.tables import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    """Run migrations on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    from carehub.platform.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        run_migrations(conn)
else:
    run_migrations(connection)
