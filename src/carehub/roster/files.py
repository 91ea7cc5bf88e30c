"""Reading roster files: CSV (header row, one record per line) and JSON lines.

Both are streamed in chunks so a file of millions of rows never sits in memory
whole. See docs/formats/roster-files.md for the columns of each kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from carehub.roster.domain.kinds import RecordKind
from carehub.roster.schemas import SCHEMAS

CHUNK_ROWS = 5000
LIST_FIELDS = {"worker_ids"}
LIST_SEPARATOR = ";"


class FileFormatError(ValueError):
    """The file as a whole cannot be read (wrong format, unknown columns)."""


def detect_format(name: str, head: bytes) -> str:
    """``csv`` or ``jsonl``, from the file name, else from its first byte."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"


def read_csv_batches(kind: RecordKind, stream: IO[bytes]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Blocks of a CSV file with a header row, as (line number of the first row, text columns)."""
    allowed = set(SCHEMAS[kind].model_fields)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=4 << 20),
            # Every column as text, so errors quote the value exactly as written
            # (type inference would turn 07:30 into 07:30:00 and 0042 into 42).
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(allowed, pa.string()), strings_can_be_null=False
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
        )
    except pa.ArrowInvalid as exc:
        msg = f"not a readable CSV file: {exc}"
        raise FileFormatError(msg) from exc
    names = reader.schema.names
    unknown = [n for n in names if n not in allowed]
    if unknown:
        msg = f"unknown column(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}"
        raise FileFormatError(msg)
    line = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            msg = f"CSV could not be read after line {line - 1}: {exc}"
            raise FileFormatError(msg) from exc
        yield line, batch
        line += batch.num_rows


def csv_records(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The records of a block of CSV: empty cells are absent, list cells are split on ``;``."""
    names = batch.schema.names
    lists = [n for n in names if n in LIST_FIELDS]
    out = []
    for values in zip(*(batch.column(i).to_pylist() for i in range(len(names))), strict=True):
        record = {n: v for n, v in zip(names, values, strict=True) if v}
        for n in lists:
            if n in record:
                record[n] = [t.strip() for t in record[n].split(LIST_SEPARATOR) if t.strip()]
        out.append(record)
    return out


def read_csv(kind: RecordKind, stream: IO[bytes]) -> Iterator[list[tuple[int, Any]]]:
    """Chunks of (line number, record) from a CSV file with a header row."""
    for line, batch in read_csv_batches(kind, stream):
        rows = csv_records(batch)
        for start in range(0, len(rows), CHUNK_ROWS):
            part = rows[start : start + CHUNK_ROWS]
            yield [(line + start + i, r) for i, r in enumerate(part)]


def read_jsonl(stream: IO[bytes]) -> Iterator[list[tuple[int, Any]]]:
    """Chunks of (line number, record) from a JSON-lines file; a bad line becomes its error text."""
    chunk: list[tuple[int, Any]] = []
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            record: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            record = JsonLineError(f"not valid JSON: {exc.msg} at column {exc.colno}")
        chunk.append((number, record))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class JsonLineError(str):
    """A line that was not JSON; carried through so it is reported with its line number."""

    __slots__ = ()
