"""Alembic migrations: the schema, from empty, for SQLite and PostgreSQL."""
