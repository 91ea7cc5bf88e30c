"""The PostgreSQL set-based file import gives exactly what the record-by-record path gives.

Each scenario imports the same files into two environments of one database:
one through ``do_import_file`` (on PostgreSQL the staged, set-based path; on
SQLite the record-by-record path) and one through the record-by-record path
forced. Reports, stored rows, allocations, audit rows and outbox events must be
identical (internal ids and timestamps aside).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database, make_engine
from carehub.platform.errors import InvalidInput
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.domain.rules import Outcome
from carehub.roster.files import JsonLineError
from carehub.roster.service import changes, imports, queries
from carehub.roster.service.upsert import do_upsert_batch, table_of
from carehub.tenancy import service as tenancy

VISIT_COLUMNS = [
    "id",
    "version",
    "client_id",
    "contract_id",
    "plan_visit_id",
    "kind",
    "start",
    "end",
    "carers_needed",
    "worker_ids",
]


def _forced_record_path(db: Database, env_id: int, kind: RecordKind, data: bytes, name: str) -> dict[str, Any]:
    """The record-by-record import, whatever the database."""
    fmt, parts = imports.chunks(kind, io.BytesIO(data), name)
    report = imports.ImportReport(kind.value, name, fmt)
    with db.transaction() as session:
        imports._import_records(session, SYSTEM, env_id, kind, parts, report, None)
    return _plain(report.as_dict())


def _default_path(db: Database, env_id: int, kind: RecordKind, data: bytes, name: str) -> dict[str, Any]:
    return _plain(imports.do_import_file(db, SYSTEM, env_id, kind, io.BytesIO(data), name).as_dict())


def _plain(report: dict[str, Any]) -> dict[str, Any]:
    report.pop("seconds")
    return report


def _seed(db: Database, env_id: int) -> None:
    batches: list[tuple[RecordKind, list[dict[str, Any]]]] = [
        (RecordKind.BRANCH, [{"id": "B1", "version": 1, "name": "Bristol"}]),
        (RecordKind.CONTRACT, [{"id": f"K{i}", "version": 1, "name": f"K{i}", "funder": "council"} for i in (1, 2)]),
        (
            RecordKind.CLIENT,
            [
                {"id": f"C{i}", "version": 1, "branch_id": "B1", "first_name": "Ada", "last_name": f"L{i}"}
                for i in range(1, 6)
            ],
        ),
        (
            RecordKind.WORKER,
            [
                {"id": f"W{i}", "version": 1, "branch_id": "B1", "first_name": "Wyn", "last_name": f"W{i}"}
                for i in range(1, 6)
            ],
        ),
        (
            RecordKind.PLAN_VISIT,
            [
                {
                    "id": f"P{i}",
                    "version": 1,
                    "client_id": f"C{i}",
                    "contract_id": "K1",
                    "visit_type_code": "AM",
                    "days": "MON,WED",
                    "start_time": "08:00",
                    "duration_minutes": 30,
                    "starts_on": "2026-01-01",
                }
                for i in range(1, 4)
            ],
        ),
    ]
    for kind, records in batches:
        result = do_upsert_batch(db, SYSTEM, env_id, kind, records, max_records=5000)
        assert result.count(Outcome.REJECTED) == 0, result.as_dict()


def visits_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, VISIT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return buf.getvalue().encode()


def visit(i: int, version: int | str = 1, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"V{i}",
        "version": version,
        "client_id": f"C{1 + i % 5}",
        "contract_id": "K1",
        "plan_visit_id": f"P{1 + i % 3}" if i % 2 else "",
        "kind": "planned" if i % 2 else "unplanned",
        "start": f"2026-03-{10 + i % 18:02d}T08:00:00+00:00",
        "end": f"2026-03-{10 + i % 18:02d}T08:30:00+00:00",
        "carers_needed": 2 if i % 4 == 0 else 1,
        "worker_ids": [f"W{1 + i % 5}", f"W{1 + (i + 2) % 5}"] if i % 4 == 0 else [f"W{1 + i % 5}"],
    }
    row.update(over)
    return row


FIRST_FILE = [
    *(visit(i) for i in range(1, 21)),
    visit(21, client_id="NOPE"),
    visit(22, worker_ids=["W1", "GHOST"], carers_needed=2),
    visit(23, end="2026-03-10T07:00:00+00:00"),
    visit(24, worker_ids=["W1", "W1"], carers_needed=2),
    visit(25, worker_ids=["W1", "W2"], carers_needed=1),
    visit(26, version="x"),
    visit(27, start="2026-13-01T08:00:00+00:00"),
    visit(28, start="2026-03-10T08:00:00"),
    visit(29, client_id=""),
    visit(30, kind="weird"),
    visit(31, id=" V31 ", client_id=" C2 "),
    visit(32, start="2026-03-10 09:00:00+01:00", end="2026-03-10T08:30:00Z"),
    visit(33, contract_id="NOPE", plan_visit_id="NOPE", worker_ids=["GHOST2"]),
    visit(34, version="2"),
    visit(34, version=1),
    visit(35),
    visit(35, version=2, carers_needed=2, worker_ids=["W2", "W1"]),
    visit(36, start="2026-03-10T08:00:00.250000+02:00", end="2026-03-10T09:00:00.5+02:00"),
    visit(37, carers_needed="0"),
    visit(38, worker_ids=[]),
    visit(39, start="2026-03-10T08:00:00Z", end="2026-03-10T09:00:00.123-05:30"),
    visit(40, start="2026-02-29T08:00:00+00:00"),
    visit(41, worker_ids=["W1", "W2", "W3", "W4", "W5"], carers_needed=4),
    visit(42, version="99999999999999999999"),
]

UPDATES = [
    visit(1, version=2, client_id="C5", start="2026-04-01T10:00:00+01:00", end="2026-04-01T11:00:00+01:00"),
    visit(2, version=2, plan_visit_id="", kind="adhoc"),
    visit(3, version=1, carers_needed=2),
    visit(4, version=0),
    visit(5, version=3, worker_ids=["W3"], carers_needed=1),
    visit(6, version=2),
    visit(7, version=5, worker_ids=[]),
    visit(8, version=1, worker_ids=["W5", "W4"]),
    visit(9, version=2, client_id="NOPE"),
    visit(10, version=2),
    visit(35, version=1),
]


def _state(db: Database, env_id: int, kind: RecordKind = RecordKind.VISIT) -> dict[str, Any]:
    """Everything an import leaves behind, in the rostering system's ids."""
    page = queries.list_records(db, env_id, kind, include_deleted=True, per_page=queries.MAX_PER_PAGE)
    assert page.total <= queries.MAX_PER_PAGE
    records = [{k: v for k, v in item.items() if k not in ("_pk", "updated_at")} for item in page.items]
    table = table_of(kind).name
    with db.engine.connect() as conn:
        audit = conn.execute(
            text(
                "SELECT a.external_id, a.action, a.changes, a.actor_kind, a.actor_label, a.entity_id = r.id"  # noqa: S608 - fixed table names
                f" FROM audit_log a JOIN {table} r ON r.external_id = a.external_id AND r.environment_id = :env"
                " WHERE a.entity = :entity AND a.environment_id = :env ORDER BY a.external_id, a.id"
            ),
            {"env": env_id, "entity": kind.value},
        ).all()
        outbox = conn.execute(
            text(
                f"SELECT r.external_id, o.topic, o.payload FROM outbox_events o JOIN {table} r ON r.id = o.entity_id"  # noqa: S608 - fixed table names
                " WHERE o.entity = :entity AND o.environment_id = :env ORDER BY r.external_id, o.id"
            ),
            {"env": env_id, "entity": kind.value},
        ).all()
    return {
        "records": sorted(records, key=lambda r: r["id"]),
        "audit": [(r[0], r[1], _json(r[2]), *r[3:]) for r in audit],
        "outbox": [(r[0], r[1], _json(r[2])) for r in outbox],
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture
def two_envs(db: Database) -> tuple[int, int]:
    _, fast = tenancy.do_create_tenant(db, SYSTEM, name="Fast Care", timezone="Europe/London")
    _, slow = tenancy.do_create_tenant(db, SYSTEM, name="Slow Care", timezone="Europe/London")
    for env in (fast, slow):
        _seed(db, env.id)
    return fast.id, slow.id


Step = Callable[[Database, int, RecordKind, bytes, str], dict[str, Any]]


def _both(db: Database, envs: tuple[int, int], kind: RecordKind, data: bytes, name: str) -> dict[str, Any]:
    fast = _default_path(db, envs[0], kind, data, name)
    slow = _forced_record_path(db, envs[1], kind, data, name)
    assert fast == slow
    return fast


def test_first_load_with_bad_rows_gives_identical_outcomes(db: Database, two_envs: tuple[int, int]) -> None:
    report = _both(db, two_envs, RecordKind.VISIT, visits_csv(FIRST_FILE), "visits.csv")
    assert report["read"] == len(FIRST_FILE)
    assert report["rejected"] >= 12
    codes = {e["code"] for e in report["errors"]}
    assert {"unknown_client", "unknown_worker", "end_before_start", "older_than_current", "int_parsing"} <= codes
    assert _state(db, two_envs[0]) == _state(db, two_envs[1])


def test_reimport_of_the_same_file_is_all_unchanged_or_rejected_again(db: Database, two_envs: tuple[int, int]) -> None:
    data = visits_csv(FIRST_FILE)
    first = _both(db, two_envs, RecordKind.VISIT, data, "visits.csv")
    again = _both(db, two_envs, RecordKind.VISIT, data, "visits.csv")
    assert again["created"] == again["updated"] == 0
    # V35's first line (version 1) is now older than the stored version 2; V34's was refused both times.
    assert again["unchanged"] == first["created"]
    assert again["rejected"] == first["rejected"] + 1
    assert _state(db, two_envs[0]) == _state(db, two_envs[1])


def test_updates_conflicts_and_older_versions_give_identical_outcomes(db: Database, two_envs: tuple[int, int]) -> None:
    _both(db, two_envs, RecordKind.VISIT, visits_csv(FIRST_FILE), "visits.csv")
    for env in two_envs:
        changes.do_delete_record(db, SYSTEM, env, RecordKind.VISIT, "V6", None)
    report = _both(db, two_envs, RecordKind.VISIT, visits_csv(UPDATES), "updates.csv")
    assert report["updated"] >= 5
    codes = {e["code"] for e in report["errors"]}
    assert {"version_conflict", "older_than_current", "unknown_client"} <= codes
    state = _state(db, two_envs[0])
    assert state == _state(db, two_envs[1])
    undeleted = [a for a in state["audit"] if a[0] == "V6"][-1]
    assert undeleted[2]["deleted"] == [True, False]


def test_json_lines_with_malformed_lines_give_identical_outcomes(db: Database, two_envs: tuple[int, int]) -> None:
    lines = []
    for i, row in enumerate(FIRST_FILE[:24]):
        record = {k: v for k, v in row.items() if v != ""}
        lines.append(json.dumps(record))
        if i == 3:
            lines.append("{not json")
        if i == 7:
            lines.append("")
    lines.append(json.dumps({"id": "V90", "version": 1, "client_id": "C1", "contract_id": "K1", "nope": 1}))
    lines.append(json.dumps([1, 2]))
    data = ("\n".join(lines) + "\n").encode()
    report = _both(db, two_envs, RecordKind.VISIT, data, "visits.jsonl")
    assert report["errors"][0]["code"] == "invalid_json"
    assert [e["line"] for e in report["errors"]] == sorted(e["line"] for e in report["errors"])
    assert _state(db, two_envs[0]) == _state(db, two_envs[1])


def test_other_kinds_give_identical_outcomes(db: Database, two_envs: tuple[int, int]) -> None:
    clients = (
        "id,version,branch_id,group_id,first_name,last_name,ssref,postcode,status\n"
        "C1,2,B1,,Ada,Changed,SS1,bs1 1ab,active\n"
        "C2,1,B1,,Ada,L2,,,\n"
        "C9,1,B1,,Ada,New,,XX,active\n"
        "C10,1,NOPE,,Ada,New,,,active\n"
        "C11,1,B1,G404,Ada,New,,,inactive\n"
        "C12,1,B1,,,New,,,active\n"
    )
    _both(db, two_envs, RecordKind.CLIENT, clients.encode(), "clients.csv")
    plans = (
        "id,version,client_id,contract_id,visit_type_code,days,start_time,duration_minutes,starts_on,ends_on\n"
        "P1,2,C1,K2,PM,TUE,18:00,45,2026-01-01,2026-06-30\n"
        "P8,1,C1,K1,AM,MON,08:00,30,2026-02-01,2026-01-01\n"
        "P9,1,C1,K1,AM,XYZ,08:00,30,2026-02-01,\n"
        "P10,1,C2,K2,AM,MON,08:00,30,2026-02-01,\n"
    )
    _both(db, two_envs, RecordKind.PLAN_VISIT, plans.encode(), "plan-visits.csv")
    for kind in (RecordKind.CLIENT, RecordKind.PLAN_VISIT):
        assert _state(db, two_envs[0], kind) == _state(db, two_envs[1], kind)


def test_files_with_nothing_to_apply_give_identical_reports(db: Database, two_envs: tuple[int, int]) -> None:
    header_only = visits_csv([])
    assert _both(db, two_envs, RecordKind.VISIT, header_only, "visits.csv")["read"] == 0
    all_bad = visits_csv([visit(1, version="x"), visit(2, start="soon"), visit(3, id="")])
    report = _both(db, two_envs, RecordKind.VISIT, all_bad, "visits.csv")
    assert (report["read"], report["rejected"]) == (3, 3)
    assert _state(db, two_envs[0]) == _state(db, two_envs[1])


def test_rejections_quote_times_in_utc_whatever_the_session_time_zone(db: Database, two_envs: tuple[int, int]) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the session time zone is PostgreSQL's")
    rows = [visit(1, start="2026-07-01T10:00:00+01:00", end="2026-07-01T09:00:00+01:00")]
    fast_db = Database(
        make_engine(
            db.engine.url.render_as_string(hide_password=False),
            connect_args={"options": "-c TimeZone=America/New_York"},
        )
    )
    try:
        fast = _default_path(fast_db, two_envs[0], RecordKind.VISIT, visits_csv(rows), "visits.csv")
    finally:
        fast_db.engine.dispose()
    slow = _forced_record_path(db, two_envs[1], RecordKind.VISIT, visits_csv(rows), "visits.csv")
    assert fast == slow
    assert fast["errors"][0]["value"] == "2026-07-01T08:00:00+00:00"


def test_a_file_that_cannot_be_read_changes_nothing(db: Database, two_envs: tuple[int, int]) -> None:
    good = visits_csv(FIRST_FILE[:5])
    broken = good + b'V99,1,C1,K1,,planned,"2026-03-10T08:00:00+00:00\n'
    before = _state(db, two_envs[0])
    with pytest.raises(InvalidInput):
        imports.do_import_file(db, SYSTEM, two_envs[0], RecordKind.VISIT, io.BytesIO(broken), "visits.csv")
    assert _state(db, two_envs[0]) == before


def test_json_line_errors_keep_their_type() -> None:
    assert isinstance(JsonLineError("x"), str)


def _foreign_keys(db: Database) -> set[tuple[str, str]]:
    with db.read() as session:
        rows = session.execute(
            text("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'")
        )
        return {(str(a), str(b)) for a, b in rows}


def test_opt_in_set_wise_key_checks_give_identical_outcomes_and_restore_every_key(
    db: Database, two_envs: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the set-wise key checks are part of PostgreSQL's COPY path")
    from carehub.roster.service import bulk_postgres  # noqa: PLC0415 - only this test reaches into it

    keys = _foreign_keys(db)
    monkeypatch.setattr(bulk_postgres, "SET_WISE_KEYS", True)
    monkeypatch.setattr(bulk_postgres, "SET_WISE_CHECKS_FROM", 0)
    monkeypatch.setattr(bulk_postgres, "SET_WISE_CHECKS_SHARE", 0.0)
    suspended: list[int] = []
    real = bulk_postgres.suspend_foreign_keys

    def counting(cur: Any, kind: RecordKind, writes: int) -> list[bulk_postgres.ForeignKey]:
        dropped = real(cur, kind, writes)
        suspended.append(len(dropped))
        return dropped

    monkeypatch.setattr(bulk_postgres, "suspend_foreign_keys", counting)
    report = _both(db, two_envs, RecordKind.VISIT, visits_csv(FIRST_FILE), "visits.csv")
    assert report["rejected"] >= 12
    assert _state(db, two_envs[0]) == _state(db, two_envs[1])
    assert _foreign_keys(db) == keys
    assert suspended, suspended
    assert all(n > 0 for n in suspended), suspended
