"""The ``polyvox worker`` role as a real process: records billed a few seconds after hang-up,
nothing lost or billed twice across a restart, e-mails delivered to a real SMTP server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from polyvox import workers
from polyvox.db.model import ENTITY
from tests.billing.conftest import Setup, Smtp, billable, cdr, create, put

UTC = dt.UTC


def _start(s: Setup, smtp: Smtp, tmp: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POLYVOX_DATABASE_URL": s.db.url.render_as_string(hide_password=False),
           "POLYVOX_HOME": str(tmp), "POLYVOX_SMTP_HOST": smtp.settings.host,
           "POLYVOX_SMTP_PORT": str(smtp.settings.port), "POLYVOX_WORKER_INTERVAL": "0.2"}
    argv = workers.argv()
    assert argv[:3] == [sys.executable, "-m", "polyvox.workers"]
    log = (tmp / "worker.log").open("ab")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait(10)


def _wait_billed(s: Setup, callid: str, timeout: float = 60.0) -> None:
    t = ENTITY["BillableCall"].table
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with s.db.connect() as c:
            if c.execute(select(t.c.id).where(t.c.callid == callid)).first() is not None:
                return
        time.sleep(0.1)
    raise AssertionError(f"{callid} not billed within {timeout} s")


def test_worker_process_bills_survives_restart_and_mails(setup: Setup, smtp: Smtp, tmp_path: Path) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="pseudoprepaid", balance=Decimal("0.0400"))
    create(s, "BalanceNotification", company=s.company, toAddress="ops@client.example", threshold=Decimal("0.0200"))
    now = dt.datetime.now(UTC)
    proc = _start(s, smtp, tmp_path)
    try:
        cdr(s.db, callid="p1", company=s.company, brand=s.brand, callee="+34944048184", duration=30,
            start=now - dt.timedelta(seconds=40), carrier=s.carrier)
        _wait_billed(s, "p1")
        assert billable(s.db, "p1").price == Decimal("0.0300")
        (msg,) = smtp.wait(1, timeout=30)
        assert msg["To"] == "ops@client.example" and "DemoCompany" in msg["Subject"]
    finally:
        _stop(proc)
    # records written while no worker runs are billed by the next one, once
    cdr(s.db, callid="p2", company=s.company, brand=s.brand, callee="+34944048184", duration=30,
        start=now - dt.timedelta(seconds=35), carrier=s.carrier)
    proc = _start(s, smtp, tmp_path)
    try:
        _wait_billed(s, "p2")
    finally:
        _stop(proc)
    t = ENTITY["BillableCall"].table
    with s.db.connect() as c:
        assert c.execute(select(func.count()).select_from(t)).scalar_one() == 2
    co = ENTITY["Company"].table
    with s.db.connect() as c:
        assert c.execute(select(co.c.balance).where(co.c.id == s.company)).scalar() == Decimal("-0.0200")
    assert len(smtp.messages) == 1  # one crossing of the threshold, one e-mail
