"""Benchmark data: the demo generator's provider when it is there, else a synthetic one.

Files are written once per scale and format under ``benchmarks/results/data``
(ignored by git) and reused by later runs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from carehub.roster.domain.kinds import LOAD_ORDER, RecordKind
from carehub.roster.schemas import SCHEMAS

RESULTS = Path(__file__).parent / "results"
TODAY = date(2026, 3, 2)  # a fixed day: the same data on every run and machine


class Source(Protocol):
    """What the benchmarks need of a data set."""

    def records(self, kind: RecordKind) -> Iterator[dict[str, Any]]:
        """The records of ``kind`` in API shape."""
        ...


def source(scale: str) -> tuple[str, Source]:
    """The data set of ``scale`` and where it comes from."""
    try:
        from carehub.demo.generator import Scale, generate  # noqa: PLC0415 - optional while it is being written
    except ImportError:
        from benchmarks.synthetic import SyntheticData  # noqa: PLC0415 - the fallback

        return "synthetic (benchmarks/synthetic.py)", SyntheticData(scale)
    return "demo generator (carehub.demo.generator)", generate(Scale(scale), today=TODAY)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def files(scale: str, fmt: str) -> tuple[str, dict[RecordKind, Path]]:
    """One file per kind for ``scale`` in ``fmt`` (``csv`` or ``jsonl``), written if missing."""
    origin, data = source(scale)
    directory = RESULTS / "data" / f"{scale}-{fmt}"
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{kind.plural}.{fmt}" for kind in LOAD_ORDER}
    done = directory / "COMPLETE"
    if done.exists():
        return origin, paths
    try:
        from carehub.demo.generator import write_files  # noqa: PLC0415 - optional while it is being written
    except ImportError:
        _write(data, paths, fmt)
    else:
        write_files(data, directory, fmt)  # type: ignore[arg-type]
    done.write_text(origin + "\n")
    return origin, paths


def _write(data: Source, paths: dict[RecordKind, Path], fmt: str) -> None:
    for kind in LOAD_ORDER:
        fields = list(SCHEMAS[kind].model_fields)
        records = data.records(kind)
        with paths[kind].open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            if fmt == "csv":
                writer.writerow(fields)
            while chunk := list(islice(records, 20_000)):
                if fmt == "csv":
                    writer.writerows([_cell(r.get(f)) for f in fields] for r in chunk)
                else:
                    out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in chunk)


def count_lines(path: Path, fmt: str) -> int:
    """Records in a file (CSV without its header)."""
    with path.open("rb") as f:
        n = sum(1 for _ in f)
    return n - 1 if fmt == "csv" else n
