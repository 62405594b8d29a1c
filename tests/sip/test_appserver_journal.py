"""The call journal (issue 19, item 5, the record side): an answered call whose application server
worker is killed (kill -9) still gets its call registry rows, written by the worker that next
starts on the same address or, when none does, by another live worker once the dead one's
heartbeat is stale; the call ends at the last heartbeat seen while it was up.

Real ``polyvox appserver`` workers with the real dialplan, proxy-users (Kamailio) and phones;
the rows are read from the database (``users_cdrs``, ``appserver_call_journal``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from polyvox.appserver import plan
from polyvox.db.appserver_state import appserver_call_journal as journal_table
from polyvox.db.model import ENTITY
from tests.sip.fixtures_appserver import REAL_DIALPLAN, as_session  # noqa: F401
from tests.sip.test_appserver_runtime import Env, callee_hangs_up, env  # noqa: F401
from tests.sip.ua import UA, Dialog, sdp

FAST = {"POLYVOX_AS_HEARTBEAT": "1"}


def _wait(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def _cdrs(e: Env, call_id: str) -> list[Any]:
    t = ENTITY["UsersCdr"].table
    with e.pf.engine.connect() as c:
        return c.execute(select(t).where(t.c.callid == call_id).order_by(t.c.id)).all()


def _journal(e: Env, call_id: str) -> list[Any]:
    t = journal_table
    with e.pf.engine.connect() as c:
        return c.execute(select(t).where(t.c.callId == call_id)).all()


def _active(e: Env, call_id: str) -> list[Any]:
    from polyvox.db.appserver_state import appserver_active_calls as t

    with e.pf.engine.connect() as c:
        return c.execute(select(t).where(t.c.callId == call_id)).all()


def _answered_call(e: Env, alice: UA, bob: UA, rtp: int) -> tuple[Dialog, Dialog, Any, float]:
    """alice → 102, bob answers: (alice's dialog, bob's, bob's INVITE, wall time of the answer)."""
    d = alice.invite("102", body=sdp(rtp), wait_final=False, timeout=15)
    inv = bob.request("INVITE", timeout=15)
    uas = bob.answer(inv, body=sdp(rtp + 1))
    assert alice.wait_final(d, timeout=15).status == 200
    answered = time.time()
    bob.request("ACK", call_id=inv.call_id, timeout=10)
    return d, uas, inv, answered


def _kill(proc: Any) -> float:
    os.kill(proc.pid, signal.SIGKILL)
    proc.p.wait(10)
    return time.time()


def _check_answered_rows(rows: list[Any], answered: float, killed: float) -> None:
    """alice's outbound and bob's inbound row, answered, lasting no longer than the call did
    until the kill (the end is the last heartbeat seen before it)."""
    assert sorted((r.direction, r.owner, r.disposition) for r in rows) == [
        ("inbound", "102", "answered"), ("outbound", "101", "answered")]
    for r in rows:
        assert Decimal("0") < Decimal(str(r.duration)) <= Decimal(str(killed - answered + 1.0)), r.duration
    assert len({(r.startTime, r.duration) for r in rows}) == 1


def test_killed_worker_call_is_recorded_by_its_successor(env: Env) -> None:  # noqa: F811
    (port, proc), = env.servers.start(1, dialplan=REAL_DIALPLAN, extra_env=FAST)
    workers = [(port, proc)]
    env.set_servers([f"127.0.0.1:{port}"])  # type: ignore[operator]
    try:
        alice, bob = env.phone("alice"), env.phone("bob")
        # a call that ends normally: recorded once, its journal row gone
        d0, uas0, _inv0, _ = _answered_call(env, alice, bob, 41300)
        _wait("journal row of the answered call", lambda: _journal(env, d0.call_id))
        callee_hangs_up(alice, d0, bob, uas0)
        normal = _wait("rows of the call that ended", lambda: _cdrs(env, d0.call_id))
        _wait("journal row of the call that ended removed", lambda: not _journal(env, d0.call_id))
        # a live answered call, then kill -9 once a heartbeat has been seen during it
        d, _uas, _inv, answered = _answered_call(env, alice, bob, 41310)
        _wait("journal row with a heartbeat after the answer",
              lambda: [j for j in _journal(env, d.call_id) if j.seenAt > j.answerTime])
        time.sleep(1.0)
        killed = _kill(proc)
        assert not _cdrs(env, d.call_id)  # nobody wrote them: the worker died
        assert _journal(env, d.call_id)
        env.servers.workers.remove((port, proc))
        workers.remove((port, proc))
        workers += env.servers.start(1, dialplan=REAL_DIALPLAN, extra_env=FAST, port=port)
        rows = _wait("rows of the killed call", lambda: _cdrs(env, d.call_id))
        _check_answered_rows(rows, answered, killed)
        assert not _journal(env, d.call_id)
        assert len(_cdrs(env, d0.call_id)) == len(normal)  # not recorded twice
        # the successor takes calls
        d2, uas2, _inv2, _ = _answered_call(env, alice, bob, 41320)
        callee_hangs_up(alice, d2, bob, uas2)
        _wait("rows of the next call", lambda: _cdrs(env, d2.call_id))
    finally:
        for w in workers:
            w[1].stop()
            if w in env.servers.workers:
                env.servers.workers.remove(w)


def test_a_worker_that_never_returns_is_recorded_by_another(env: Env) -> None:  # noqa: F811
    stale = {**FAST, "POLYVOX_AS_STALE_AFTER": "3"}
    pair = env.servers.start(2, dialplan=REAL_DIALPLAN, extra_env=stale)
    (p1, w1), (_p2, _w2) = pair
    env.set_servers([f"127.0.0.1:{p1}"])  # type: ignore[operator]
    try:
        alice, bob = env.phone("alice"), env.phone("bob")
        d, _uas, _inv, answered = _answered_call(env, alice, bob, 41330)
        _wait("journal row with a heartbeat after the answer",
              lambda: [j for j in _journal(env, d.call_id) if j.seenAt > j.answerTime])
        killed = _kill(w1)
        rows = _wait("rows of the call, written by the other worker", lambda: _cdrs(env, d.call_id), timeout=45)
        _check_answered_rows(rows, answered, killed)
        assert not _journal(env, d.call_id)
        _wait("its active-call entries removed", lambda: not _active(env, d.call_id), timeout=10)
    finally:
        for w in pair:
            w[1].stop()
            env.servers.workers.remove(w)
        # the dead worker's active-call rows stay until a worker starts on its address (§3.7): one does
        for w in env.servers.start(1, port=p1):
            w[1].stop()
            env.servers.workers.remove(w)


def test_supervised_worker_killed_during_a_call_comes_back_and_records_it(env: Env) -> None:  # noqa: F811
    """``polyvox appserver --workers 2``: the worker holding an answered call is killed (-9); its
    supervisor restarts it on the same port, which writes the call's rows; the next call works."""
    import json
    import sys
    from pathlib import Path

    from tests.sip.conftest import _wait_ready, free_port
    from tests.sip.fixtures_appserver import PLAN, ROOT, _Proc
    from tests.sip.test_appserver_runtime import _children, _udp_free

    base = free_port(False)
    while not all(_udp_free(base + i) for i in range(2)):
        base = free_port(False)
    env_vars = {**os.environ, "POLYVOX_DATABASE_URL": env.pf.url, "POLYVOX_HOME": str(env.pf.tmp / "home"),
                "POLYVOX_SIP_HOST": "127.0.0.1", "POLYVOX_SIP_USERS_PORT": str(env.pf.proxy[1]),
                "POLYVOX_SIP_TRUNKS_PORT": str(env.trunks.proxy[1]), "POLYVOX_AS_TEST_PLAN": json.dumps(PLAN),
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), **FAST}
    sup = _Proc([sys.executable, "-m", "polyvox.cli", "appserver", "--host", "127.0.0.1", "--port", str(base),
                 "--workers", "2", "--dialplan", REAL_DIALPLAN], env.pf.tmp / f"appserver-sup-{base}.log",
                "appserver-sup", env_vars)

    def worker_pid(port: int) -> int | None:
        for pid in _children(sup.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode():
                return pid
        return None

    try:
        _wait_ready(("127.0.0.1", base), sup, 30)
        _wait_ready(("127.0.0.1", base + 1), sup, 30)
        env.set_servers([f"127.0.0.1:{base}"])  # type: ignore[operator]
        alice, bob = env.phone("alice"), env.phone("bob")
        d, _uas, _inv, answered = _answered_call(env, alice, bob, 41340)
        _wait("journal row with a heartbeat after the answer",
              lambda: [j for j in _journal(env, d.call_id) if j.seenAt > j.answerTime])
        pid = worker_pid(base)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        _wait("the worker restarted on its port", lambda: worker_pid(base) not in (None, pid))
        rows = _wait("rows of the killed call", lambda: _cdrs(env, d.call_id))
        _check_answered_rows(rows, answered, killed)
        _wait_ready(("127.0.0.1", base), sup, 30)
        d2, uas2, _inv2, _ = _answered_call(env, alice, bob, 41350)
        callee_hangs_up(alice, d2, bob, uas2)
        _wait("rows of the next call", lambda: _cdrs(env, d2.call_id))
    finally:
        sup.stop(15)


# ----------------------------------------------------------------------------- units
def test_journal_entry_round_trip() -> None:
    from polyvox.appserver.journal import Answered, decode, encode

    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    fwd = plan.Target(plan.TargetKind.EXTERNAL, "+34911000002", headers=(("X-Info-BrandId", "1"),), label="ext")
    target = plan.Target(plan.TargetKind.ENDPOINT, "bob", domain="127.0.0.1", from_user="101", from_name="Alice",
                         headers=(("Diversion", "<sip:1@x>"),), label="hg:7/member:2", user_id=2, ring_timeout=15.0,
                         forward_no_answer=fwd, pai_user="101")
    call = plan.IncomingCall("cid@x", plan.Origin.ENDPOINT, 1, 2, "vpbx", "102", "101", "Alice", now,
                             headers={"x-info-companyid": "2"}, endpoint_type="terminal", endpoint_id=3,
                             endpoint_name="alice", user_id=1, diversion=("<sip:9@x>",))
    a = Answered(call, now + timedelta(seconds=5), target, (target, fwd))
    assert decode(encode(a)) == a
    ended = a.ended(now + timedelta(seconds=65))
    assert (ended.disposition, ended.duration, ended.answered_by) == (plan.Disposition.ANSWERED, 60.0, target)
    assert a.ended(now).duration == 0.0  # a heartbeat older than the answer: no negative call


def test_rows_are_cut_to_their_columns() -> None:
    """A 20,000-digit Request-URI user must not make PostgreSQL refuse a call's rows."""
    from polyvox.db.appserver_state import appserver_active_calls
    from polyvox.db.model import fit

    row = fit(appserver_active_calls, {"party": "9" * 20000, "ownerNumber": "1" * 100, "state": "early", "ownerId": 3})
    assert (len(row["party"]), len(row["ownerNumber"]), row["state"], row["ownerId"]) == (255, 64, "early", 3)
