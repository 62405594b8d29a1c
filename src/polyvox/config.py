"""Runtime settings, from environment variables with standalone defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    api_host: str
    api_port: int
    jwt_ttl: int = 3600
    refresh_ttl: int = 30 * 24 * 3600

    @property
    def secret_file(self) -> Path:
        return self.home / "jwt.secret"


def load() -> Settings:
    home = Path(os.environ.get("POLYVOX_HOME", Path.cwd() / "var")).resolve()
    url = os.environ.get("POLYVOX_DATABASE_URL") or f"sqlite:///{home / 'polyvox.sqlite3'}"
    return Settings(
        home=home,
        database_url=url,
        api_host=os.environ.get("POLYVOX_API_HOST", "127.0.0.1"),
        api_port=int(os.environ.get("POLYVOX_API_PORT", "8000")),
    )
