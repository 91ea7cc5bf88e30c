"""Settings, read from ``CAREHUB_*`` environment variables (see docs/operations.md)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "carehub-development-secret-do-not-use-in-production"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    """Every setting Carehub reads, with safe defaults for development."""

    model_config = SettingsConfigDict(env_prefix="CAREHUB_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("./carehub-data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means an SQLite file in data_dir.",
    )
    secret_key: str = _DEV_SECRET
    timezone: str = "Europe/London"
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_records: int = 5000
    session_max_age_seconds: int = 12 * 3600
    mobile_sync_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days a device sync row is kept (each device's latest syncs are always kept).",
    )

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.mode == "production" and self.secret_key == _DEV_SECRET:
            msg = "CAREHUB_SECRET_KEY must be set to a random value in production"
            raise ValueError(msg)
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, normalised to the drivers Carehub uses."""
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'carehub.db').resolve()}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


def random_secret() -> str:
    """A new random secret suitable for CAREHUB_SECRET_KEY."""
    return secrets.token_urlsafe(48)
