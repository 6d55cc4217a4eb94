"""The one place configuration is read: environment variables prefixed ``PHASEGATE_``."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_WEIGHTS = {
    "business_value": 0.40,
    "technical_feasibility": 0.30,
    "implementation_difficulty": 0.15,
    "team_acceptance": 0.15,
}


class Settings(BaseSettings):
    """Where the store lives, which server the CLI talks to, and tunable defaults."""

    model_config = SettingsConfigDict(env_prefix="PHASEGATE_", extra="ignore")

    home: Path = Path(".phasegate")
    database_url: str | None = None
    url: str | None = Field(default=None, description="a remote phasegate server for the CLI")
    token: str | None = Field(default=None, description="the API token for the remote server")
    secret_key: str | None = None
    scoring_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    outbound_hosts: list[str] | None = Field(
        default=None,
        description="hosts the server may call at URLs users give (webhooks, load tests, replays, HTTP "
        "model versions): names, or '*.example.com' for subdomains; unset, any (see phasegate.outbound)",
    )
    journal_acknowledge: Literal["write", "fsync"] = Field(
        default="write",
        description="when the gateway answers: once the request's record is written to its journal "
        "(survives the process being killed; fsync'ed soon after by a thread) or once it is fsync'ed "
        "(survives the machine failing too, at about 0.2-0.3 ms more a request)",
    )

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the metadata store: SQLite in the home folder unless told otherwise."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'phasegate.db').resolve()}"

    def session_secret(self) -> str:
        """The key that signs web sessions; generated once and kept in the home folder."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
