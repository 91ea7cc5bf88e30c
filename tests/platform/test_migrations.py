"""Migrations build the whole schema from an empty database, and agree with the models. SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from carehub.platform import schema
from carehub.tables import metadata


def test_migrations_build_every_table_from_an_empty_database(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    assert schema.current_revision(empty_engine) is None
    schema.upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert tables - set(metadata.tables) == {"alembic_version"}
    assert schema.current_revision(empty_engine) == schema.head_revision(empty_engine)


def test_upgrading_twice_changes_nothing(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)
    before = schema.current_revision(empty_engine)
    schema.upgrade(empty_engine)
    assert schema.current_revision(empty_engine) == before


def test_models_and_migrations_agree(empty_engine: Engine) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    schema.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_there_is_a_single_head(empty_engine: Engine) -> None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    heads = ScriptDirectory.from_config(schema.alembic_config(empty_engine)).get_heads()
    assert len(heads) == 1, f"migrations branch: {heads}; merge them"
