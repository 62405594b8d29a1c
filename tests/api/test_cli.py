"""The ``polyvox`` command: database upgrade and operator management, on a fresh SQLite home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from polyvox.api.app import create_app
from polyvox.db.engine import make_engine


def _polyvox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYVOX_HOME": str(home)}
    env.pop("POLYVOX_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "polyvox.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_db_upgrade_and_operator_management(tmp_path: Path) -> None:
    assert _polyvox(tmp_path, "db", "upgrade").returncode == 0
    r = _polyvox(tmp_path, "admin", "create", "root2", "--password", "first-pass")
    assert r.returncode == 0, r.stderr
    assert _polyvox(tmp_path, "admin", "create", "root2", "--password", "x").returncode != 0  # exists
    assert _polyvox(tmp_path, "admin", "password", "root2", "--password", "second-pass").returncode == 0
    missing = _polyvox(tmp_path, "admin", "password", "nobody", "--password", "x")
    assert missing.returncode == 1 and "no administrator" in missing.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'polyvox.sqlite3'}")
    with TestClient(create_app(engine, "cli-test-secret-0123456789abcdef0123")) as client:
        bad = client.post("/api/platform/admin_login", data={"username": "root2", "password": "first-pass"})
        good = client.post("/api/platform/admin_login", data={"username": "root2", "password": "second-pass"})
    engine.dispose()
    assert bad.status_code == 401
    assert good.status_code == 200 and good.json()["token"]


def test_status_and_logs_without_a_running_platform(tmp_path: Path) -> None:
    """``polyvox status`` on a home where ``polyvox up`` never ran says so (exit 3, as ``service
    status``); ``polyvox logs`` names the roles it has logs for."""
    st = _polyvox(tmp_path, "status")
    assert st.returncode == 3 and "has not run" in st.stdout, st.stdout + st.stderr
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "worker.log").write_text("2026-01-01 00:00:00,000 worker INFO started\n")
    missing = _polyvox(tmp_path, "logs", "proxy-users")
    assert missing.returncode == 2 and "roles: worker" in missing.stderr, missing.stderr
    shown = _polyvox(tmp_path, "logs", "worker")
    assert shown.returncode == 0 and shown.stdout.endswith("worker INFO started\n"), shown.stdout
