"""Platform pieces on their own: settings, UTC timestamps, password hashing, error rows, the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Column, Dialect, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from carehub.platform.auth.passwords import hash_password, needs_rehash, verify_password
from carehub.platform.clock import utc_now
from carehub.platform.db import UTCDateTime, make_engine
from carehub.platform.errors import RecordError, json_safe
from carehub.platform.settings import Settings, random_secret

# Settings


def test_settings_refuse_the_default_secret_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREHUB_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="CAREHUB_SECRET_KEY must be set"):
        Settings(mode="production")
    monkeypatch.setenv("CAREHUB_MODE", "production")
    with pytest.raises(ValidationError, match="CAREHUB_SECRET_KEY must be set"):
        Settings()


def test_settings_accept_a_real_secret_in_production_and_the_default_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CAREHUB_SECRET_KEY", raising=False)
    monkeypatch.delenv("CAREHUB_MODE", raising=False)
    assert Settings(mode="production", secret_key=random_secret()).mode == "production"
    assert Settings().mode == "development"
    assert len(random_secret()) >= 48
    assert random_secret() != random_secret()


def test_settings_resolve_database_urls(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_database_url == f"sqlite:///{(tmp_path / 'carehub.db').resolve()}"
    assert Settings(database_url="postgres://u@h/db").resolved_database_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgresql://u@h/db").resolved_database_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="sqlite:///x.db").resolved_database_url == "sqlite:///x.db"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREHUB_MAX_BATCH_RECORDS", "10")
    monkeypatch.setenv("CAREHUB_MODE", "staging")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("CAREHUB_MODE", "development")
    assert Settings().max_batch_records == 10


# UTCDateTime

_meta = MetaData()
_stamps = Table("stamps", _meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))


@pytest.mark.parametrize(
    "dialect",
    [sqlite.dialect(), postgresql.dialect()],  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
    ids=["sqlite", "postgresql"],
)
def test_utc_datetime_refuses_naive_datetimes(dialect: Dialect) -> None:
    bind = UTCDateTime().process_bind_param
    with pytest.raises(ValueError, match="naive datetime"):
        bind(datetime(2026, 3, 29, 8, 0), dialect)  # noqa: DTZ001 - the point of the test


def test_utc_datetime_stores_utc_and_reads_back_aware(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'stamps.db'}")
    _meta.create_all(engine)
    london_summer = datetime(2026, 3, 29, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    with engine.begin() as conn:
        conn.execute(insert(_stamps).values(id=1, at=london_summer))
        with pytest.raises(StatementError, match="naive datetime"):
            conn.execute(insert(_stamps).values(id=2, at=datetime(2026, 3, 29, 8, 0)))  # noqa: DTZ001
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT at FROM stamps").scalar_one()
        read = conn.execute(select(_stamps.c.at)).scalar_one()
    engine.dispose()
    assert str(raw).startswith("2026-03-29 07:00:00")
    assert read == london_summer
    assert read.tzinfo is UTC


def test_sqlite_connections_read_through_a_memory_map_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as conn:
        mmap = conn.exec_driver_sql("PRAGMA mmap_size").scalar_one()
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    engine.dispose()
    assert mmap >= 256 * 1024 * 1024  # the build's cap (2 GiB on Debian), never SQLite's default of 0
    assert (journal, keys) == ("wal", 1)


@settings(max_examples=200, database=None, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.timezones(),
    )
)
def test_utc_datetime_bind_and_result_round_trip_any_zone(moment: datetime) -> None:
    column = UTCDateTime()
    for dialect in (sqlite.dialect(), postgresql.dialect()):  # type: ignore[no-untyped-call]  # unannotated in SQLAlchemy
        stored = column.process_bind_param(moment, dialect)
        assert stored is not None
        back = column.process_result_value(stored, dialect)
        assert back is not None
        # The same instant. (PEP 495: a time in a gap or fold never compares equal across zones, so compare in UTC.)
        assert back == moment.astimezone(UTC)
        assert back.timestamp() == moment.timestamp()
        assert back.utcoffset() == timedelta(0)
    assert column.process_bind_param(None, sqlite.dialect()) is None
    assert column.process_result_value(None, sqlite.dialect()) is None


def test_the_clock_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)


# Passwords


def test_password_hashing_verifies_the_password_and_rejects_others() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse battery" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batter")
    assert not verify_password(hashed, "")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(hashed)


def test_password_hashes_are_salted() -> None:
    assert hash_password("same password") != hash_password("same password")


# Error rows


@settings(max_examples=200, database=None, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=8,
    )
)
def test_json_safe_output_always_encodes_as_strict_json(value: object) -> None:
    safe = json_safe(value)
    json.dumps(safe, allow_nan=False).encode("utf-8")


def test_json_safe_keeps_ordinary_values_and_makes_the_rest_readable() -> None:
    assert json_safe({"a": [1, 2.5, True, None, "x"]}) == {"a": [1, 2.5, True, None, "x"]}
    assert json_safe(float("nan")) == "nan"
    assert json_safe(float("-inf")) == "-inf"
    assert json_safe("a\ud800b") == "a\\ud800b"
    assert json_safe(("x", 1)) == ["x", 1]
    assert json_safe(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01 00:00:00+00:00"


def test_record_error_rows_are_json_with_every_part() -> None:
    row = RecordError(3, "C1", "postcode", "XX", "a UK postcode", "bad_postcode").as_dict()
    assert row == {
        "index": 3,
        "record_id": "C1",
        "field": "postcode",
        "value": "XX",
        "reason": "a UK postcode",
        "code": "bad_postcode",
    }
    assert RecordError(None, None, "worker_ids", ["W1", "W1"], "twice").as_dict()["value"] == "['W1', 'W1']"
    assert RecordError(None, "\ud800", "version", float("nan"), "r").as_dict()["value"] == "nan"
    json.dumps(RecordError(None, "\ud800", "x", "\udfff", "r").as_dict(), allow_nan=False).encode("utf-8")
