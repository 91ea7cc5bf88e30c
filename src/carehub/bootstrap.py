"""The composition root: settings, database and services are wired here, once."""

from __future__ import annotations

from dataclasses import dataclass

from carehub.platform.db import Database, make_engine
from carehub.platform.settings import Settings
from carehub.publishing.mobile import retention
from carehub.publishing.service import propagate, schedule_jobs


@dataclass(frozen=True, slots=True)
class Container:
    """Everything an entry point needs: settings and the database."""

    settings: Settings
    db: Database


def build(settings: Settings | None = None) -> Container:
    """Wire Carehub from ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings()
    propagate.install()
    schedule_jobs.install()
    retention.install(settings.mobile_sync_retention_days)
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Container(settings=settings, db=Database(make_engine(url)))
