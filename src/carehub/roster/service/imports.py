"""Importing a roster file.

Every row is validated and applied like a batch record, all in one
transaction, with a report row for each rejected line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.orm import Session

from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput, RecordError
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.domain.rules import Outcome, Violation
from carehub.roster.files import (
    FileFormatError,
    JsonLineError,
    detect_format,
    read_csv,
    read_csv_batches,
    read_jsonl,
)
from carehub.roster.service import bulk_postgres
from carehub.roster.service.results import RecordResult
from carehub.roster.service.upsert import apply_records

MAX_REPORTED_ERRORS = 1000


@dataclass(slots=True)
class ImportReport:
    """What an import did: counts by outcome and the first rejected lines."""

    kind: str
    file: str
    format: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds by step, where the path measures them

    def add(self, line: int, result: RecordResult) -> None:
        """Count one line's outcome."""
        self.read += 1
        if result.outcome is Outcome.CREATED:
            self.created += 1
        elif result.outcome is Outcome.UPDATED:
            self.updated += 1
        elif result.outcome is Outcome.UNCHANGED:
            self.unchanged += 1
        else:
            self.rejected += 1
            for v in result.errors:
                if len(self.errors) < MAX_REPORTED_ERRORS:
                    self.errors.append(
                        {
                            "line": line,
                            "id": result.id,
                            "field": v.field,
                            "value": v.value,
                            "reason": v.reason,
                            "code": v.code,
                        }
                    )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "kind": self.kind,
            "file": self.file,
            "format": self.format,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": [
                {
                    **e,
                    "value": e["value"] if isinstance(e["value"], str | int | float | bool | None) else str(e["value"]),
                }
                for e in self.errors
            ],
            "errors_truncated": self.rejected > 0 and len(self.errors) >= MAX_REPORTED_ERRORS,
            "seconds": round(self.seconds, 3),
        }


def chunks(kind: RecordKind, stream: IO[bytes], name: str) -> tuple[str, Iterator[list[tuple[int, Any]]]]:
    """The detected format and the chunks of (line, record) of a file."""
    head = stream.read(64)
    stream.seek(0)
    fmt = detect_format(name, head)
    return fmt, (read_csv(kind, stream) if fmt == "csv" else read_jsonl(stream))


def _invalid(line: int, rec: JsonLineError) -> RecordResult:
    return RecordResult(line, None, Outcome.REJECTED, None, [Violation(None, None, str(rec), "invalid_json")])


def _import_records(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    parts: Iterator[list[tuple[int, Any]]],
    report: ImportReport,
    progress: Any,
) -> None:
    """Record by record (SQLite): each chunk is applied like a batch."""
    for part in parts:
        good = [(line, rec) for line, rec in part if not isinstance(rec, JsonLineError)]
        results = apply_records(session, actor, environment_id, kind, good)
        outcomes = [(line, _invalid(line, rec)) for line, rec in part if isinstance(rec, JsonLineError)]
        outcomes += [(line, result) for (line, _), result in zip(good, results, strict=True)]
        outcomes.sort(key=lambda pair: pair[0])
        for line, result in outcomes:
            report.add(line, result)
        if progress is not None:
            progress(len(part))


def _import_postgres(
    session: Session,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    source: tuple[str, IO[bytes]],
    parts: Iterator[list[tuple[int, Any]]],
    report: ImportReport,
    progress: Any,
) -> None:
    """Set-wise (PostgreSQL): stage the file with COPY, then resolve, decide and write in SQL."""
    outcomes = bulk_postgres.Outcomes(keep=MAX_REPORTED_ERRORS)
    stager = bulk_postgres.Stager(session, kind, outcomes)
    fmt, stream = source
    if fmt == "csv":
        for line, batch in read_csv_batches(kind, stream):
            stager.add_csv_block(line, batch)
            if progress is not None:
                progress(batch.num_rows)
        parts = iter(())
    for part in parts:
        for line, rec in part:
            if isinstance(rec, JsonLineError):
                stager.add_invalid(line, _invalid(line, rec).errors[0])
        stager.add_records([(line, rec) for line, rec in part if not isinstance(rec, JsonLineError)])
        if progress is not None:
            progress(len(part))
    bulk_postgres.finish(session, actor, environment_id, stager)
    for line, result in bulk_postgres.results_in_line_order(outcomes):
        report.add(line, result)
    report.read = outcomes.read
    report.created = outcomes.created
    report.updated = outcomes.updated
    report.unchanged = outcomes.unchanged
    report.rejected = outcomes.rejected
    report.steps = outcomes.seconds


def do_import_file(
    db: Database,
    actor: Actor,
    environment_id: int,
    kind: RecordKind,
    stream: IO[bytes],
    name: str,
    progress: Any = None,
) -> ImportReport:
    """Import one file of one kind in one transaction; a file that cannot be read changes nothing."""
    started = time.perf_counter()
    fmt, parts = chunks(kind, stream, name)
    report = ImportReport(kind.value, name, fmt)
    try:
        with db.transaction() as session:
            if db.dialect == "postgresql":
                _import_postgres(session, actor, environment_id, kind, (fmt, stream), parts, report, progress)
            else:
                _import_records(session, actor, environment_id, kind, parts, report, progress)
    except FileFormatError as exc:
        raise InvalidInput(str(exc), errors=[RecordError(None, name, None, None, str(exc), "bad_file")]) from exc
    report.seconds = time.perf_counter() - started
    return report
