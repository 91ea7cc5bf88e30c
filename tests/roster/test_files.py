"""Reading roster files, and the vectorised check that lets canonical CSV visits skip pydantic."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from carehub.roster.domain.kinds import RecordKind
from carehub.roster.files import FileFormatError, csv_records, read_csv, read_csv_batches, read_jsonl
from carehub.roster.schemas import VisitIn
from carehub.roster.service.bulk_postgres import canonical_visits


def test_csv_values_are_read_as_written_not_inferred() -> None:
    data = b"id,version,start_time,starts_on,duration_minutes\n0042,1,07:30,2026-01-01,30\n"
    [[(line, record)]] = list(read_csv(RecordKind.PLAN_VISIT, io.BytesIO(data)))
    assert line == 2
    assert record == {
        "id": "0042",
        "version": "1",
        "start_time": "07:30",
        "starts_on": "2026-01-01",
        "duration_minutes": "30",
    }


def test_csv_empty_cells_are_absent_and_lists_split_on_semicolons() -> None:
    data = b"id,version,plan_visit_id,worker_ids\nV1,1,, W1 ; ;W2\nV2,1,P1,\n"
    _, batch = next(read_csv_batches(RecordKind.VISIT, io.BytesIO(data)))
    assert csv_records(batch) == [
        {"id": "V1", "version": "1", "worker_ids": ["W1", "W2"]},
        {"id": "V2", "version": "1", "plan_visit_id": "P1"},
    ]


def test_csv_with_an_unknown_column_is_refused_whole() -> None:
    with pytest.raises(FileFormatError, match="unknown column"):
        list(read_csv(RecordKind.BRANCH, io.BytesIO(b"id,version,name,colour\nB1,1,Bristol,red\n")))


def test_json_lines_keep_line_numbers_and_report_bad_lines() -> None:
    data = b'{"id": "B1", "version": 1, "name": "x"}\n\n{nope\n{"id": "B2", "version": 1, "name": "y"}\n'
    [chunk] = list(read_jsonl(io.BytesIO(data)))
    assert [line for line, _ in chunk] == [1, 3, 4]
    assert str(chunk[1][1]).startswith("not valid JSON")


CANONICAL_ROW = {
    "id": "V1",
    "version": "1",
    "client_id": "C1",
    "contract_id": "K1",
    "plan_visit_id": "",
    "kind": "",
    "start": "2026-03-10T08:00:00+01:00",
    "end": "2026-03-10T08:30:00Z",
    "carers_needed": "",
    "worker_ids": "W1;W2",
}


def _check(rows: list[dict[str, str]]) -> list[bool]:
    names = list(rows[0])
    batch = pa.record_batch([pa.array([r[n] for r in rows], pa.string()) for n in names], names=names)
    checked: list[bool] = canonical_visits(batch).to_pylist()
    return checked


@pytest.mark.parametrize(
    ("field", "value", "canonical"),
    [
        ("id", "V1", True),
        ("id", " V1", False),
        ("id", "V 1", False),
        ("id", "x" * 101, False),
        ("version", "0", False),
        ("version", "01", False),
        ("version", "1.0", False),
        ("version", "123456789012345678", True),
        ("kind", "planned", True),
        ("kind", "Planned", False),
        ("start", "2026-02-29T08:00:00+00:00", False),
        ("start", "2028-02-29T08:00:00+00:00", True),
        ("start", "2026-03-10 08:00:00+00:00", False),
        ("start", "2026-03-10T08:00:00", False),
        ("start", "2026-03-10T24:00:00Z", False),
        ("start", "2026-03-10T08:00:00.123456-05:30", True),
        ("start", "2026-03-10T08:00:00.1234567Z", False),
        ("carers_needed", "5", False),
        ("carers_needed", "2", True),
        ("worker_ids", "W1;W2;W3;W4", True),
        ("worker_ids", "W1;W2;W3;W4;W5", False),
        ("worker_ids", "W1;", False),
        ("worker_ids", "W1; W2", False),
    ],
)
def test_canonical_visit_values(field: str, value: str, canonical: bool) -> None:
    assert _check([{**CANONICAL_ROW, field: value}]) == [canonical]


def test_a_missing_required_column_makes_no_row_canonical() -> None:
    row = {k: v for k, v in CANONICAL_ROW.items() if k != "end"}
    assert _check([row]) == [False]


_ids = st.text(alphabet="AZaz09_.:-/ ;,", min_size=0, max_size=6)
_times = st.one_of(
    st.datetimes(min_value=datetime(1001, 1, 2), max_value=datetime(2998, 12, 30)).map(  # noqa: DTZ001 - local text
        lambda d: d.isoformat(timespec="seconds")
    ),
    st.from_regex(
        r"\A2026-0[1-3]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,7})?(Z|[+-][01][0-9]:[0-9]{2})?\Z"
    ),
)
_rows = st.fixed_dictionaries(
    {
        "id": _ids,
        "version": st.from_regex(r"\A[0-9+\- .]{0,4}\Z"),
        "client_id": _ids,
        "contract_id": _ids,
        "plan_visit_id": _ids,
        "kind": st.sampled_from(["", "planned", "adhoc", "unplanned", " planned", "PLANNED"]),
        "start": _times,
        "end": _times,
        "carers_needed": st.sampled_from(["", "0", "1", "2", "4", "5", " 1", "1.0"]),
        "worker_ids": st.lists(_ids, max_size=5).map(";".join),
    }
)


def _pydantic(row: dict[str, str]) -> VisitIn | None:
    record: dict[str, Any] = {k: v for k, v in row.items() if v}
    if "worker_ids" in record:
        record["worker_ids"] = [t.strip() for t in record["worker_ids"].split(";") if t.strip()]
    try:
        return VisitIn.model_validate(record)
    except ValidationError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows)
def test_a_canonical_row_is_one_pydantic_accepts_with_the_same_values(row: dict[str, str]) -> None:
    if not _check([row])[0]:
        return
    model = _pydantic(row)
    assert model is not None, row
    assert model.id == row["id"]
    assert model.version == int(row["version"])
    assert model.plan_visit_id == (row["plan_visit_id"] or None)
    assert model.kind == (row["kind"] or "planned")
    assert model.carers_needed == int(row["carers_needed"] or 1)
    assert model.worker_ids == (row["worker_ids"].split(";") if row["worker_ids"] else [])
    for field in ("start", "end"):
        assert getattr(model, field) == datetime.fromisoformat(row[field])
