"""Serve Carehub with uvicorn in this process, for the batch API benchmark.

``python -m benchmarks.server DATABASE_URL PORT`` serves ``carehub.app.create_app``
in one process (no reload, no access log) until it is terminated. The benchmark
reads the process's peak resident memory (VmHWM) before stopping it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import uvicorn

from carehub.app import create_app
from carehub.bootstrap import build
from carehub.platform.settings import Settings


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    settings = Settings(database_url=url, data_dir=Path(tempfile.gettempdir()) / "carehub-bench")
    app = create_app(build(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
