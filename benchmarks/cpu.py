"""CPU seconds spent by a process, or by the PostgreSQL backends serving one database.

The benchmark machine is shared: wall-clock times stretch when other work
competes for its cores. CPU seconds do not, so the suite reports both.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def backends_cpu(database: str) -> float:
    """CPU seconds of every PostgreSQL process working on ``database`` (backends, autovacuum workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres:") and f" {database} " in f"{cmdline} ":
            total += process_cpu(int(entry.name))
    return total
