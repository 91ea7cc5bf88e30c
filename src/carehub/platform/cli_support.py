"""Helpers shared by CLI commands: the container, output as a table or JSON, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from carehub.platform.errors import CarehubError

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Rich table."""
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    console.print(table)


def fail(message: str, errors: Sequence[dict[str, Any]] = (), *, as_json: bool = False) -> NoReturn:
    """Report an error and exit with status 1."""
    if as_json:
        emit_json({"error": {"message": message, "errors": list(errors)}})
    else:
        err_console.print(f"[bold red]Error:[/] {message}")
        for e in errors:
            err_console.print(f"  - {e}")
    raise typer.Exit(1)


def run(call: Callable[[], T], *, as_json: bool = False) -> T:
    """Call a service function, turning Carehub errors into a clear message and exit 1."""
    try:
        return call()
    except CarehubError as exc:
        fail(exc.message, [e.as_dict() for e in exc.errors], as_json=as_json)
