"""The benchmark suite's own pieces: its data, its reference tables, its report."""

from __future__ import annotations

import os
from itertools import islice

import pytest
from benchmarks.cpu import process_cpu
from benchmarks.synthetic import SyntheticData
from benchmarks.work import _bare_types
from pydantic import TypeAdapter

from benchmarks import __main__ as suite
from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind
from carehub.roster.schemas import SCHEMAS


@pytest.mark.parametrize("kind", LOAD_ORDER)
def test_synthetic_records_are_valid_roster_records(kind: RecordKind) -> None:
    records = list(islice(SyntheticData("small").records(kind), 200))
    assert records
    TypeAdapter(list[SCHEMAS[kind]]).validate_python(records)  # type: ignore[valid-type]


def test_synthetic_scales_grow() -> None:
    small, medium = SyntheticData("small"), SyntheticData("medium")
    assert all(small.count(k) <= medium.count(k) for k in LOAD_ORDER)


@pytest.mark.parametrize("kind", LOAD_ORDER)
def test_reference_tables_have_a_typed_column_per_field(kind: RecordKind) -> None:
    types = _bare_types(kind)
    assert list(types) == list(SCHEMAS[kind].model_fields)
    if kind is RecordKind.VISIT:
        assert types["start"] == types["end"] == "timestamptz"
        assert types["worker_ids"] == "text"


def test_cpu_of_this_process_is_counted() -> None:
    assert process_cpu(os.getpid()) > 0
    assert process_cpu(2**22 + 7) == 0.0


def test_report_prints_one_line_per_workload(capsys: pytest.CaptureFixture[str]) -> None:
    ref = {"seconds": 1.0, "per_second": 1000.0, "cpu": 1.0, "db_cpu": 0.5}
    row = {
        "scale": "small",
        "db": "postgresql",
        "workload": "file (csv)",
        "records": 1000,
        "runs": 3,
        "seconds": 4.0,
        "per_second": 250.0,
        "visits": 800,
        "visit_seconds": 3.0,
        "peak_mib": 100.0,
        "cpu": 2.0,
        "db_cpu": 3.0,
        "reference": ref,
    }
    suite.report([row])
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("small"))
    assert "0.25" in line  # the ratio to the reference
    assert "267" in line  # visits a second
