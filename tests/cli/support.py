"""Running ``carehub`` commands in tests: the result's JSON or text, and error messages."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from carehub import cli


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    """Run ``carehub args``; return its JSON output when ``--json`` was given, else the text."""
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.output


def error_of(runner: CliRunner, *args: str) -> str:
    """The message of a command that must fail with exit status 1."""
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 1, (args, result.output)
    if "--json" in args:
        message: str = json.loads(result.stdout)["error"]["message"]
        return message
    assert "Error:" in result.stderr
    return " ".join(result.stderr.split())
