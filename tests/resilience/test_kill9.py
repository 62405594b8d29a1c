"""kill -9 of every role of a standalone ``polyvox up`` during a live call (issue 19 item 4, and
the "kill -9 tests for every role" it asks to keep).

One real ``polyvox up`` for the whole module, started as tests/sip/test_standalone.py starts it:
a fresh ``POLYVOX_HOME`` (SQLite), every port moved to free loopback ports through the
environment, the demo data (DemoCompany's Alice 101 and Bob 102) plus the carrier, DDI and
rating of docs/quickstart.md (its ``sh`` blocks, with the carrier a test UA), so that external
calls cross proxy-trunks and are priced by the worker.

For every role (api, proxy-users, proxy-trunks, trunks-agent, the application server, rtpengine,
worker): establish a live call (Alice -> Bob through proxy-users and the app server; Alice -> a
Spanish number through proxy-trunks and the carrier for the roles external calls depend on),
kill -9 the role's process as ``polyvox status`` names it (for Kamailio its main process only,
as the OOM killer would), then check that

- the role comes back: the supervisor restarts it, its old process group is gone, its ports
  answer (HTTP, SIP OPTIONS, NG ping);
- the call ends cleanly on both sides: the caller's BYE reaches the callee and is answered, or,
  when the application server died, the proxies send a BYE to both sides;
- its record is written: the call registry rows (client API) and, for external calls, the
  billable call priced by the worker (brand API);
- the next call works.

The last test stops ``polyvox up`` with SIGTERM: nothing of its session is left and the ports are
free; the console showed the restarts but no Kamailio INFO line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyvox import supervisor as sv
from polyvox.media.ng import NGClient, NGError
from tests.sip.test_quickstart import run_documented_commands
from tests.sip.test_standalone import (
    HOST,
    Standalone,
    _api_up,
    _env,
    _options_ok,
    _skip_if_missing,
    _start,
    _wait_location,
    _wait_ready,
)
from tests.sip.ua import UA, Dialog, Message, sdp

ROOT = Path(__file__).resolve().parents[2]
ALICE_PW, BOB_PW = "DEMOalice+101", "DEMObob+1020"
EXTERNAL = "911234567"  # a Spanish number: docs/quickstart.md routes it to its carrier
EXTERNAL_E164 = "+34911234567"
BACK_TIMEOUT = 30.0  # a killed role restarted and answering
# the proxies ending both legs of a call whose application server died: Kamailio's dialog
# keepalives run every 30 s (its minimum), two failures in a row end the call 10 s later
# (docs/sip.md: 35-75 s after the death)
END_TIMEOUT = 80.0
RECORD_TIMEOUT = 30.0


@dataclass
class Stack:
    sa: Standalone
    alice: UA
    bob: UA
    carrier: UA
    rtp_port: int = 43000
    killed: dict[str, int] = field(default_factory=dict)

    def sdp(self) -> str:
        self.rtp_port += 2
        return sdp(self.rtp_port)


@dataclass
class Call:
    caller: UA
    d: Dialog
    callee: UA
    inv: Message
    uas: Dialog
    external: bool

    def abandon(self) -> None:
        """A failed test's call: BYE from both sides, so that it does not linger into the next test."""
        with contextlib.suppress(Exception):
            self.caller.in_dialog(self.d, "BYE")
            self.callee.in_dialog(self.uas, "BYE")


def _stop(sa: Standalone) -> None:
    """Stops ``polyvox up`` and, should it fail to, every process of its session."""
    if sa.proc.poll() is None:
        sa.proc.send_signal(signal.SIGTERM)
        try:
            sa.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            sa.proc.kill()
            sa.proc.wait(timeout=10)
    for pid in _session(sa.proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _session(sid: int) -> list[int]:
    """Live processes of a session (``polyvox up`` is started as a session leader)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True, check=True).stdout
    return [int(p) for p, s, st in (line.split() for line in out.splitlines()) if int(s) == sid
            and not st.startswith("Z")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _skip_if_missing()
    for tool in ("bash", "curl", "jq"):
        if not shutil.which(tool):
            pytest.skip(f"docs/quickstart.md needs {tool}")
    tmp = tmp_path_factory.mktemp("kill9")
    home = tmp / "home"
    env, ports = _env(home)
    sa = _start(home, env, ports, tmp / "polyvox-up.log")
    uas: list[UA] = []
    try:
        _wait_ready(sa)
        carrier = UA("carrier", HOST, sa.trunks)
        uas.append(carrier)
        run_documented_commands(sa, carrier, timeout=120)
        alice, bob = UA("alice", HOST, sa.users, password=ALICE_PW), UA("bob", HOST, sa.users, password=BOB_PW)
        uas += [alice, bob]
        assert alice.register(expires=3600).status == 200
        assert bob.register(expires=3600).status == 200
        _wait_location(sa, ("alice", alice.port), ("bob", bob.port))
        yield Stack(sa=sa, alice=alice, bob=bob, carrier=carrier)
    finally:
        for ua in uas:
            ua.close()
        _stop(sa)


# ---------------------------------------------------------------------- helpers
def _wait(what: str, cond: Callable[[], Any], st: Stack, timeout: float, role: str | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert st.sa.alive(), f"polyvox up exited before {what}:\n{st.sa.output()[-5000:]}"
        got = cond()
        if got:
            return got
        time.sleep(0.3)
    log = ""
    if role is not None:
        log = "\n".join(sv.tail_lines(st.sa.home / "log" / f"{role}.log", 40))
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n--- console:\n{st.sa.output()[-4000:]}"
                         f"\n--- {role} log:\n{log}")


def _status(sa: Standalone) -> dict[str, Any]:
    """``polyvox status --json`` from another process, as an operator runs it."""
    r = subprocess.run([sys.executable, "-m", "polyvox.cli", "status", "--json"], env=sa.env, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def _answers(sa: Standalone, role: str) -> bool:
    """The role's own service answers (not only its port bound)."""
    if role == "api":
        return _api_up(sa.api)
    if role == "proxy-users":
        return _options_ok(sa.users)
    if role == "proxy-trunks":
        return _options_ok(sa.trunks)
    if role.startswith("appserver"):
        return _options_ok((HOST, sa.as_port))
    if role == "rtpengine":
        try:
            with NGClient(f"udp:{HOST}:{sa.ng_port}", timeout=0.5, retries=0) as ng:
                return ng.ping()
        except (NGError, OSError):
            return False
    return True  # trunks-agent, worker: no port; the supervisor's state says whether they run


def _everything_answers(st: Stack) -> None:
    for role in ("api", "proxy-users", "proxy-trunks", f"appserver-{st.sa.as_port}", "rtpengine"):
        _wait(f"{role} answering", lambda role=role: _answers(st.sa, role), st, BACK_TIMEOUT, role)


def establish(st: Stack, external: bool) -> Call:
    for ua in (st.alice, st.bob, st.carrier):
        ua.drain(0.05)
        ua.pending.clear()
    callee = st.carrier if external else st.bob
    d = st.alice.invite(EXTERNAL if external else "102", body=st.sdp(), wait_final=False, timeout=30)
    try:
        inv = callee.request("INVITE", timeout=30)
    except TimeoutError:
        seen = [f"{m.status} {m.reason}" for m in st.alice.drain(1.0) if not m.is_request]
        raise AssertionError(f"{callee.user} got no INVITE; Alice got {seen}\n{st.sa.output()[-4000:]}") from None
    uas = callee.answer(inv, body=st.sdp())
    final = st.alice.wait_final(d, timeout=30)
    assert final.status == 200, (final.status, final.reason)
    callee.request("ACK", call_id=inv.call_id, timeout=15)
    return Call(caller=st.alice, d=d, callee=callee, inv=inv, uas=uas, external=external)


def hang_up(call: Call) -> None:
    """The caller's BYE reaches the callee, which answers; the caller gets the 200."""
    call.caller.in_dialog(call.d, "BYE")
    try:
        bye = call.callee.request("BYE", call_id=call.inv.call_id, timeout=15)
    except TimeoutError:
        got = [f"{m.status} {m.reason}" for m in call.caller.drain(0.5) if not m.is_request]
        raise AssertionError(f"the caller's BYE did not reach the callee; the caller got {got}") from None
    call.callee.respond(bye, 200, "OK")
    r = call.caller.response(call.d.call_id, "BYE", final=True, timeout=15)
    assert r.status == 200, (r.status, r.reason)


def ended_by_the_platform(call: Call, timeout: float) -> None:
    """The proxies end both legs: each side gets a BYE, and answers it."""
    for ua, call_id, who in ((call.caller, call.d.call_id, "caller"), (call.callee, call.inv.call_id, "callee")):
        try:
            bye = ua.request("BYE", call_id=call_id, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"the {who} got no BYE within {timeout:.0f}s of the app server's death") from None
        ua.respond(bye, 200, "OK")


def record(st: Stack, call: Call) -> None:
    """The call registry has the call (client API); an external call is also priced (brand API)."""
    sa = st.sa
    client = sa.login("client", "democompany", "changeme")
    want = [("outbound", "101", EXTERNAL_E164)] if call.external else [("inbound", "101", "102"),
                                                                      ("outbound", "101", "102")]

    def rows() -> list[dict[str, Any]]:
        r = sa.get("client", "/users_cdrs", client, callid=call.d.call_id, _pagination="false")
        if r.status_code != 200:  # no such filter: every row
            r = sa.get("client", "/users_cdrs", client, _pagination="false")
        assert r.status_code == 200, r.text
        # the collection does not show the Call-ID: read each row
        full = [sa.get("client", f"/users_cdrs/{x['id']}", client).json() for x in r.json()]
        got = [x for x in full if x.get("callid") == call.d.call_id]
        return got if len(got) >= len(want) else []

    full = _wait(f"the call registry rows of {call.d.call_id}", rows, st, RECORD_TIMEOUT)
    assert sorted((x["direction"], x["caller"], x["callee"]) for x in full) == want, full
    assert {x["disposition"] for x in full} == {"answered"}, full
    if not call.external:
        return
    brand = sa.login("brand", "demo", "changeme")

    def priced() -> list[dict[str, Any]]:
        calls = [c for c in sa.get("brand", "/billable_calls", brand, _pagination="false").json()
                 if c.get("callid") == call.inv.call_id]
        return calls if calls and calls[0].get("price") is not None else []

    (billable,) = _wait(f"the billable call of {call.inv.call_id} priced by the worker", priced, st, RECORD_TIMEOUT,
                        "worker")
    assert (billable["direction"], billable["callee"]) == ("outbound", EXTERNAL_E164), billable


# ---------------------------------------------------------------------- the tests
def test_status_from_another_shell_shows_roles_registrations_and_calls(stack: Stack) -> None:
    """``polyvox status`` while ``polyvox up`` runs: every role up with its PID and ports, the two
    registrations, the live call in both proxies' dialogs."""
    sa = stack.sa
    call = establish(stack, external=True)
    try:
        st = _status(sa)
        text = subprocess.run([sys.executable, "-m", "polyvox.cli", "status"], env=sa.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    finally:
        hang_up(call)
    assert st["running"] and st["pid"] == sa.proc.pid, st
    assert sorted(st["roles"]) == sorted([*ROLES_UP, f"appserver-{sa.as_port}"]), st["roles"]
    assert all(r["up"] and r["restarts"] == 0 and all(p["listening"] for p in r["ports"])
               for r in st["roles"].values()), st["roles"]
    assert st["registrations"] == {"contacts": 2, "users": 2}, st["registrations"]
    assert st["active_calls"] == {"proxy-users": 1, "proxy-trunks": 1}, st["active_calls"]
    assert text.returncode == 0, text.stderr
    assert "registrations: 2 contacts" in text.stdout and "proxy-users 1, proxy-trunks 1" in text.stdout, text.stdout
    for name, r in st["roles"].items():
        assert f"{name} " in text.stdout and str(r["pid"]) in text.stdout, text.stdout


# role -> the kind of call that crosses it (external: through proxy-trunks and the carrier)
ROLES_UP = ("api", "rtpengine", "proxy-users", "proxy-trunks", "trunks-agent", "worker")
ROLES = {"api": False, "proxy-users": False, "proxy-trunks": True, "trunks-agent": True, "appserver": False,
         "rtpengine": False, "worker": True}


@pytest.mark.parametrize("kind", list(ROLES))
def test_kill_9_during_a_live_call(stack: Stack, kind: str) -> None:
    st, sa = stack, stack.sa
    role = f"appserver-{sa.as_port}" if kind == "appserver" else kind
    _everything_answers(st)
    before = _status(sa)["roles"][role]
    assert before["up"], before
    pid, restarts = int(before["pid"]), int(before["restarts"])
    group = sv.group_members(pid)

    call = establish(st, ROLES[kind])
    try:
        os.kill(pid, signal.SIGKILL)  # the role's main process only (Kamailio: its children stay)
        st.killed[role] = pid

        # the role comes back: restarted by the supervisor, its old group gone, its service answering
        def back() -> bool:
            r = (sv.read_state(sa.home) or {}).get("roles", {}).get(role, {})
            return r.get("state") == "running" and r.get("pid") not in (None, pid) and _answers(sa, role)

        _wait(f"{role} restarted and answering", back, st, BACK_TIMEOUT, role)
        assert not [p for p in group if sv.pid_alive(p)], f"processes of the killed {role} survive"
        after = _status(sa)["roles"][role]
        assert after["up"] and after["restarts"] == restarts + 1 and after["last_exit"] == "was killed by SIGKILL", after
        assert all(p["listening"] for p in after["ports"]), after["ports"]

        # the live call ends cleanly on both sides
        if kind == "appserver":
            ended_by_the_platform(call, END_TIMEOUT)
        else:
            hang_up(call)
        record(st, call)

        # the next call works
        _everything_answers(st)
        hang_up(establish(st, ROLES[kind]))
    except BaseException:
        call.abandon()
        raise


def test_sigterm_stops_every_role_and_the_console_stayed_quiet(stack: Stack) -> None:
    sa = stack.sa
    out = sa.output()
    for role, pid in stack.killed.items():
        assert f"role {role} (pid {pid}) was killed by SIGKILL" in out, out[-4000:]
        assert f"restarting role {role}" in out
    assert " INFO: " not in out, out[-4000:]  # Kamailio's INFO lines stay in the role logs
    users_log = (sa.home / "log" / "proxy-users.log").read_text(errors="replace")
    assert " INFO: " in users_log
    logs = subprocess.run([sys.executable, "-m", "polyvox.cli", "logs", "proxy-users", "-n", "5"], env=sa.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 5, logs.stdout + logs.stderr

    members = _session(sa.proc.pid)
    assert len(members) > 10  # Kamailio's processes are in polyvox up's session
    sa.proc.send_signal(signal.SIGTERM)
    assert sa.proc.wait(timeout=60) == 0, out[-4000:]
    deadline = time.monotonic() + 20
    while _session(sa.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _session(sa.proc.pid) == [], "processes of polyvox up left after SIGTERM"
    for kind, host, port, _what in (p for r in json.loads(sv.state_file(sa.home).read_text())["roles"].values()
                                    for p in r["ports"]):
        assert sv.port_free(kind, host, port), f"{kind} {port} still bound"
    # a killed polyvox up's roles would be stopped by the next start: nothing of this run is left to stop
    assert sv.stop_leftovers(sa.home) == []
    with contextlib.suppress(httpx.HTTPError):
        assert not _api_up(sa.api)
