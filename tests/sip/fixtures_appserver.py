"""Application server workers for the SIP tests, and a small test dialplan.

Workers are real ``polyvox appserver`` processes (sippy thread + asyncio) on free loopback ports,
started and stopped by PID, talking to the session's proxy-users (``platform``) and proxy-trunks
(``trunks_platform``). Their call logic is :func:`make_test_dialplan` unless the real dialplan
(``polyvox.appserver.dialplan``) is asked for: a table of numbers in ``POLYVOX_AS_TEST_PLAN``
(JSON) so the runtime's behaviour is tested independently of the tenants' rules.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from polyvox.appserver import plan
from tests.sip.conftest import ALICE_PW, BOB_PW, Platform, Proc, Trunks, _wait_ready, free_port

ROOT = Path(__file__).resolve().parents[2]
TEST_DIALPLAN = "tests.sip.fixtures_appserver:make_test_dialplan"
REAL_DIALPLAN = "polyvox.appserver.dialplan:make_dialplan"

# Names of the terminals the runtime tests create (DemoCompany's domain); alice/bob are the demo's.
BOB2 = "asbob"
CAROL = "ascarol"
DAVE = "asdave"

# Their SIP passwords (strong, as the API demands for terminals), and the demo terminals'.
PASSWORDS = {"alice": ALICE_PW, "bob": BOB_PW, BOB2: "ASBOBpwd+291", CAROL: "ASCAROLpwd+292", DAVE: "ASDAVEpwd+294"}

# Extensions the tests create for these terminals: proxy-users leaves a client's extensions
# untransformed (spec 9.7.3), other short numbers become E.164 before they reach the app server.
EXTENSIONS = {"291": BOB2, "292": CAROL, "293": CAROL, "294": DAVE, "297": BOB2, "298": DAVE, "299": DAVE}

# dialled number -> what the test dialplan does (see TestScript)
PLAN: dict[str, dict[str, Any]] = {
    "102": {"endpoints": ["bob"]},
    "291": {"endpoints": [BOB2]},
    "292": {"endpoints": [CAROL], "timeout": 2.0},
    "293": {"endpoints": [CAROL, DAVE]},
    "294": {"endpoints": [DAVE]},
    "299": {"reject": [403, "Forbidden: test plan refuses 299"]},
    "298": {"raise": "test plan failure"},
    "297": {"sleep": 6.0, "endpoints": [BOB2]},
    "+34911234567": {"external": ["+34911234567"]},
    "+34955000222": {"endpoints": [BOB2]},  # a DDI of DemoCompany → asbob
}

AFTER = {plan.DialResult.BUSY: (486, "Busy Here"), plan.DialResult.NO_ANSWER: (480, "No Answer"),
         plan.DialResult.REJECTED: (603, "Decline"), plan.DialResult.UNAVAILABLE: (480, "Temporarily Unavailable"),
         plan.DialResult.CANCELLED: (487, "Request Terminated")}


def describe(call: plan.IncomingCall, presence: plan.Presence) -> str:
    """What the executor understood of the INVITE (and the caller's active calls in this
    process), sent to the targets in ``X-Test-Call``."""
    active = presence.user_active_calls(call.user_id) if call.user_id is not None else 0
    return (f"origin={call.origin.value};dialled={call.dialled};caller={call.caller};brand={call.brand_id};"
            f"company={call.company_id};type={call.company_type};endpoint={call.endpoint_type}:{call.endpoint_id};"
            f"user={call.user_id};ddi={call.ddi};active={active}")


class TestScript:
    def __init__(self, table: dict[str, dict[str, Any]], call: plan.IncomingCall, number: str,
                 domain: str, presence: plan.Presence) -> None:
        self.table, self.call, self.number, self.domain = table, call, number, domain
        self.presence = presence
        self.answered_target: plan.Target | None = None

    def first(self) -> plan.Action:
        entry = self.table.get(self.number)
        if entry is None:
            return plan.Reject(404, f"Not Found: test plan has no number {self.number}")
        if "raise" in entry:
            raise RuntimeError(entry["raise"])
        if "sleep" in entry:  # a slow database
            import time

            time.sleep(float(entry["sleep"]))
        if "reject" in entry:
            code, reason = entry["reject"]
            return plan.Reject(int(code), str(reason))
        hdr = (("X-Test-Call", describe(self.call, self.presence)),)
        targets = [plan.Target(plan.TargetKind.ENDPOINT, name, domain=self.domain, headers=hdr, label=f"ep:{name}")
                   for name in entry.get("endpoints", [])]
        targets += [plan.Target(plan.TargetKind.EXTERNAL, num, from_user="+34911000001", from_name="Test Caller",
                                headers=(("X-Info-BrandId", str(self.call.brand_id)),
                                         ("X-Info-CompanyId", str(self.call.company_id)),
                                         ("X-Info-Caller", "+34911000001"), ("X-Info-EndpointType", "terminal"),
                                         *hdr), label=f"ext:{num}")
                    for num in entry.get("external", [])]
        return plan.Dial(tuple(targets), timeout=entry.get("timeout"))

    def after(self, outcome: plan.DialOutcome) -> plan.Action:
        code, reason = AFTER[outcome.result]
        return plan.Reject(code, f"{reason} (after {outcome.result.value} {outcome.code})")

    def answered(self, target: plan.Target) -> None:
        self.answered_target = target


class TestDialplan:
    def __init__(self, table: dict[str, dict[str, Any]], domain: str = "127.0.0.1") -> None:
        self.table, self.domain = table, domain

    def script(self, call: plan.IncomingCall, presence: plan.Presence) -> plan.CallScript:
        return TestScript(self.table, call, call.dialled, self.domain, presence)

    def transfer(self, call: plan.IncomingCall, presence: plan.Presence, transferor: plan.Target | None,
                 refer_to: str) -> plan.CallScript:
        return TestScript(self.table, call, refer_to, self.domain, presence)


def make_test_dialplan(engine: Any) -> TestDialplan:
    table = json.loads(os.environ.get("POLYVOX_AS_TEST_PLAN") or json.dumps(PLAN))
    return TestDialplan(table)


# ----------------------------------------------------------------------------- processes
@dataclass
class AppServers:
    pf: Platform
    trunks: Trunks
    workers: list[tuple[int, Proc]] = field(default_factory=list)

    def start(self, n: int = 1, dialplan: str = TEST_DIALPLAN, extra_env: dict[str, str] | None = None,
              port: int | None = None) -> list[tuple[int, Proc]]:
        """``n`` workers on free ports (or one on ``port``: a restart on the same address);
        ``extra_env``: more POLYVOX_AS_* settings."""
        started: list[tuple[int, Proc]] = []
        for _ in range(n):
            port = port or free_port(False)
            env = {**os.environ, "POLYVOX_DATABASE_URL": self.pf.url, "POLYVOX_HOME": str(self.pf.tmp / "home"),
                   "POLYVOX_SIP_HOST": "127.0.0.1", "POLYVOX_SIP_USERS_PORT": str(self.pf.proxy[1]),
                   "POLYVOX_SIP_TRUNKS_PORT": str(self.trunks.proxy[1]), "POLYVOX_AS_TEST_PLAN": json.dumps(PLAN),
                   "POLYVOX_AS_DIALPLAN_TIMEOUT": "5",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), **(extra_env or {})}
            argv = [sys.executable, "-m", "polyvox.cli", "appserver", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "1", "--dialplan", dialplan]
            log = self.pf.tmp / f"appserver-{port}.log"
            n_logs = len(list(self.pf.tmp.glob(f"appserver-{port}*.log")))
            if n_logs:  # a restart keeps its predecessor's log
                log = self.pf.tmp / f"appserver-{port}.{n_logs}.log"
            proc = _Proc(argv, log, f"appserver-{port}", env)
            _wait_ready(("127.0.0.1", port), proc)
            self.workers.append((port, proc))
            started.append((port, proc))
            port = None
        return started

    def stop(self) -> None:
        for _, proc in self.workers:
            proc.stop()
        self.workers.clear()

    def tails(self) -> str:
        return "\n".join(f"--- appserver {port}\n{proc.tail(60)}" for port, proc in self.workers)


class _Proc(Proc):
    def __init__(self, argv: list[str], log: Path, name: str, env: dict[str, str]) -> None:
        import subprocess

        self.name, self.log = name, log
        self._fh = log.open("wb")
        self.p = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, cwd=ROOT)


@pytest.fixture(scope="session")
def as_session(platform: Platform, trunks_platform: Trunks) -> Iterator[AppServers]:
    a = AppServers(platform, trunks_platform)
    try:
        a.start(1)
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="session")
def as_real(platform: Platform, trunks_platform: Trunks) -> Iterator[AppServers]:
    """One worker running the real call logic (``polyvox.appserver.dialplan``)."""
    a = AppServers(platform, trunks_platform)
    try:
        a.start(1, dialplan=REAL_DIALPLAN)
        yield a
    finally:
        a.stop()
