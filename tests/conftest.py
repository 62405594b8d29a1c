"""Shared fixtures: a migrated database (SQLite file, or PostgreSQL with POLYVOX_TEST_DB=postgresql)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from polyvox.db.engine import make_engine, upgrade

PG_ADMIN_URL = os.environ.get("POLYVOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def backend() -> str:
    return os.environ.get("POLYVOX_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database holding reference and demo data, created once per session."""
    from polyvox.api import seeding as seed

    if backend() == "postgresql":
        name = f"polyvox_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite3'}"
    upgrade(url)
    eng = make_engine(url)
    with eng.begin() as conn:
        seed.first_start(conn, demo=True)
    eng.dispose()
    yield url
    if backend() == "postgresql":
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def db(template_db: str, tmp_path: Path) -> Iterator[Engine]:
    """A fresh copy of the template database for one test."""
    if backend() == "postgresql":
        name = f"polyvox_t_{uuid.uuid4().hex[:10]}"
        tmpl = make_url(template_db).database
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tmpl}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        eng = make_engine(url)
        yield eng
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        src = Path(template_db[len("sqlite:///"):])
        dst = tmp_path / "test.sqlite3"
        dst.write_bytes(src.read_bytes())
        eng = make_engine(f"sqlite:///{dst}")
        yield eng
        eng.dispose()


@pytest.fixture()
def empty_url(tmp_path: Path) -> Iterator[str]:
    """An empty database (no migration applied), for migration tests."""
    if backend() == "postgresql":
        name = f"polyvox_m_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
