"""``polyvox up`` end to end, as a newcomer runs it (README "Quick start"): the standalone platform
started as a real child process group on a fresh ``POLYVOX_HOME`` (SQLite), every port moved to
free loopback ports through the environment variables the roles read.

It checks that ``polyvox up`` lists every role, that the API answers (admin/changeme lists
DemoBrand), that both proxies answer OPTIONS, that the demo terminals alice and bob
register at proxy-users with their demo passwords, that Alice calls 102 and Bob answers (proxy-users -> app server ->
proxy-users, media through rtpengine), that the call registry has the call (client API, as
democompany/changeme), and that SIGTERM stops every role: nothing of the process group is left.

The demo data describes the standalone host with default ports: the application server row is
``127.0.0.1`` (no port: proxies use ``POLYVOX_AS_PORT``, default 6060) and the media relay row is
the NG address of ``POLYVOX_RTPENGINE_NG`` (``udp:127.0.0.1:22222`` by default), so moving every
port through the environment gives a working platform without touching its data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.sip.conftest import ALICE_PW, BOB_PW, free_port, missing_tools
from tests.sip.ua import UA, sdp, sdp_media

HOST = "127.0.0.1"
ROLES = ("api", "rtpengine", "proxy-users", "proxy-trunks", "trunks-agent", "worker")
START_TIMEOUT = 120.0  # migrations + demo data + every role on a loaded 2-core machine


@dataclass
class Standalone:
    proc: subprocess.Popen[bytes]
    home: Path
    log: Path
    env: dict[str, str]
    api: str
    users: tuple[str, int]
    trunks: tuple[str, int]
    as_port: int
    ng_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def login(self, level: str, username: str, password: str) -> str:
        r = httpx.post(f"{self.api}/api/{level}/admin_login", data={"username": username, "password": password},
                       timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def get(self, level: str, path: str, token: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.api}/api/{level}{path}", headers={"Authorization": f"Bearer {token}"},
                         params=params, timeout=30)


def _group_pids(sid: int) -> list[tuple[int, str]]:
    """Every process of ``polyvox up``'s session: each role leads a process group of its own inside it."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,comm="], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[1]) == sid:
            rows.append((int(parts[0]), parts[2]))
    return rows


def _options_ok(addr: tuple[str, int]) -> bool:
    import uuid

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        msg = (f"OPTIONS sip:{addr[0]}:{addr[1]} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK"
               f"{uuid.uuid4().hex[:10]}\r\nFrom: <sip:probe@{HOST}>;tag=p\r\nTo: <sip:{addr[0]}>\r\n"
               f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        sock.sendto(msg.encode(), addr)
        sock.settimeout(0.5)
        try:
            return sock.recv(4096).startswith(b"SIP/2.0 200")
        except (TimeoutError, OSError):
            return False


def _udp_bound(port: int) -> bool:
    """True when some process listens on UDP HOST:port (we cannot bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
        return False


def _wait(what: str, cond: Any, sa: Standalone, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert sa.alive(), f"polyvox up exited ({sa.proc.returncode}) before {what}:\n{sa.output()[-6000:]}"
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout}s:\n{sa.output()[-6000:]}")


def _api_up(api: str) -> bool:
    try:
        return httpx.get(f"{api}/api/platform/docs", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _env(home: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in ("api", "users", "trunks", "tls", "ws", "wss", "as")}
    ports["ng"] = free_port(False)
    rtp = random.randrange(20000, 29000, 200)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env.update({
        "POLYVOX_HOME": str(home),  # the database defaults to $POLYVOX_HOME/polyvox.sqlite3
        "POLYVOX_API_HOST": HOST,
        "POLYVOX_API_PORT": str(ports["api"]),
        "POLYVOX_SIP_HOST": HOST,
        "POLYVOX_SIP_USERS_PORT": str(ports["users"]),
        "POLYVOX_SIP_TRUNKS_PORT": str(ports["trunks"]),
        "POLYVOX_SIP_TLS_PORT": str(ports["tls"]),
        "POLYVOX_SIP_WS_PORT": str(ports["ws"]),
        "POLYVOX_SIP_WSS_PORT": str(ports["wss"]),
        "POLYVOX_SIP_CHILDREN": "2",
        "POLYVOX_SIP_SHM_MB": "64",
        "POLYVOX_AS_PORT": str(ports["as"]),
        "POLYVOX_AS_WORKERS": "1",
        "POLYVOX_RTPENGINE_NG": f"{HOST}:{ports['ng']}",
        "POLYVOX_RTP_INTERFACE": HOST,
        "POLYVOX_RTP_PORT_MIN": str(rtp),
        "POLYVOX_RTP_PORT_MAX": str(rtp + 199),
        "PYTHONUNBUFFERED": "1",
    })
    return env, ports


def _skip_if_missing() -> None:
    missing = missing_tools()
    if importlib.util.find_spec("sippy") is None:
        missing.append("sippy (pip install sippy==2.5.0)")
    if missing:
        pytest.skip("the standalone platform test needs " + ", ".join(missing))


def _start(home: Path, env: dict[str, str], ports: dict[str, int], log: Path) -> Standalone:
    """``python -m polyvox.cli up`` as the leader of a new process group."""
    root = Path(__file__).resolve().parents[2]
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "polyvox.cli", "up"], cwd=root, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return Standalone(proc=proc, home=home, log=log, env=env, api=f"http://{HOST}:{ports['api']}",
                      users=(HOST, ports["users"]), trunks=(HOST, ports["trunks"]), as_port=ports["as"],
                      ng_port=ports["ng"])


def _cleanup(sa: Standalone) -> None:
    """Safety net when a test failed before stopping the platform itself."""
    proc = sa.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for pid, _ in _group_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_group_gone(sa: Standalone) -> None:
    deadline = time.monotonic() + 30
    left = _group_pids(sa.proc.pid)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _group_pids(sa.proc.pid)
    assert left == [], f"processes left after the stop: {left}\n{sa.output()[-4000:]}"
    for port in (sa.users[1], sa.trunks[1], sa.as_port, sa.ng_port):
        assert not _udp_bound(port), f"UDP {port} still bound after the stop"


def _wait_ready(sa: Standalone) -> None:
    _wait("the API", lambda: _api_up(sa.api), sa)
    _wait("proxy-users (OPTIONS)", lambda: _options_ok(sa.users), sa)
    _wait("proxy-trunks (OPTIONS)", lambda: _options_ok(sa.trunks), sa)
    _wait(f"the app server (UDP {sa.as_port})", lambda: _udp_bound(sa.as_port), sa)
    _wait(f"rtpengine (NG UDP {sa.ng_port})", lambda: _udp_bound(sa.ng_port), sa)


@pytest.fixture()
def standalone(tmp_path: Path) -> Iterator[Standalone]:
    _skip_if_missing()
    home = tmp_path / "home"
    env, ports = _env(home)
    sa = _start(home, env, ports, tmp_path / "polyvox-up.log")
    try:
        yield sa
    finally:
        _cleanup(sa)


def test_polyvox_up_runs_the_demo_call_and_stops_cleanly(standalone: Standalone) -> None:
    sa = standalone
    _wait_ready(sa)

    # the banner lists every role and the moved addresses
    out = sa.output()
    roles_line = next((line for line in out.splitlines() if line.strip().startswith("roles:")), "")
    listed = [r.strip() for r in roles_line.split(":", 1)[1].split(",")] if roles_line else []
    assert sorted(listed) == sorted([*ROLES, f"appserver-{sa.as_port}"]), out
    assert f"sip:{HOST}:{sa.users[1]}" in out and f"sip:{HOST}:{sa.trunks[1]}" in out, out
    assert f"NG on {HOST}:{sa.ng_port}" in out and f"sip:{HOST}:{sa.as_port}" in out, out
    assert "sqlite" in out and str(sa.home) in out, out

    # API: the global operator lists DemoBrand (README quick start)
    admin = sa.login("platform", "admin", "changeme")
    brands = sa.get("platform", "/brands", admin)
    assert brands.status_code == 200, brands.text
    assert [b["name"] for b in brands.json()] == ["DemoBrand"]

    # the demo media relay row follows POLYVOX_RTPENGINE_NG (the moved NG port)
    relays = sa.get("platform", "/rtpengines", admin)
    assert relays.status_code == 200, relays.text
    assert [r["url"] for r in relays.json()] == [f"udp:{HOST}:{sa.ng_port}"]

    alice = UA("alice", HOST, sa.users, password=ALICE_PW)
    bob = UA("bob", HOST, sa.users, password=BOB_PW)
    try:
        assert alice.register().status == 200
        assert bob.register().status == 200
        _wait_location(sa, ("alice", alice.port), ("bob", bob.port))

        d = alice.invite("102", body=sdp(42100), wait_final=False, timeout=30)
        try:
            inv = bob.request("INVITE", timeout=30)
        except TimeoutError:
            seen = [f"{m.status} {m.reason}" for m in alice.drain(1.0) if not m.is_request]
            raise AssertionError(f"Bob got no INVITE; Alice got {seen}\n{sa.output()[-8000:]}") from None
        assert "sip:101@" in inv["from"]  # Alice presented by her extension
        bob.answer(inv, body=sdp(42102))
        final = alice.wait_final(d, timeout=30)
        assert final.status == 200, final
        assert sdp_media(final.body)[1] not in (42100, 0)  # media anchored in rtpengine
        bob.request("ACK", call_id=inv.call_id, timeout=15)
        time.sleep(1.0)
        alice.in_dialog(d, "BYE")
        bye = bob.request("BYE", call_id=inv.call_id, timeout=15)
        bob.respond(bye, 200, "OK")
        assert alice.response(d.call_id, "BYE", final=True, timeout=15).status == 200
        for ua in (alice, bob):
            ua.register(expires=0)
    finally:
        alice.close()
        bob.close()

    # call registry (spec 10.1.14) through the client API
    client = sa.login("client", "democompany", "changeme")
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = sa.get("client", "/users_cdrs", client)
        assert r.status_code == 200, r.text
        rows = [sa.get("client", f"/users_cdrs/{x['id']}", client).json() for x in r.json()]
        rows = [x for x in rows if x.get("callid") == d.call_id]
        if len(rows) >= 2:
            break
        time.sleep(0.5)
    assert sorted((x["direction"], x["caller"], x["callee"], x["disposition"]) for x in rows) == [
        ("inbound", "101", "102", "answered"), ("outbound", "101", "102", "answered")], rows

    assert "restarting" not in sa.output(), sa.output()[-6000:]  # no role died during the call

    # SIGTERM: every role stops, nothing of the process group is left
    pgid = sa.proc.pid
    before = _group_pids(pgid)
    names = {comm for _, comm in before}
    assert any("kamailio" in n for n in names) and any("rtpengine" in n for n in names), before
    sa.proc.send_signal(signal.SIGTERM)
    assert sa.proc.wait(timeout=60) == 0, sa.output()[-4000:]
    _wait_group_gone(sa)


def _wait_location(sa: Standalone, *contacts: tuple[str, int]) -> None:
    """The real dialplan reads the registrations from the database (kam_users_location)."""
    from polyvox.db.engine import make_engine
    from polyvox.db.location import location

    engine = make_engine(f"sqlite:///{sa.home / 'polyvox.sqlite3'}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as c:
                rows = [(str(u), str(ct)) for u, ct in c.execute(select(location.c.username, location.c.contact))]
            if all(any(u == name and f":{port}" in ct for u, ct in rows) for name, port in contacts):
                return
            time.sleep(0.2)
        raise AssertionError(f"registrations not in the location table: {rows}")
    finally:
        engine.dispose()


def test_ctrl_c_stops_every_role_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    """Ctrl-C in the terminal (SIGINT to the whole foreground process group) stops every role;
    ``polyvox up`` again on the same POLYVOX_HOME starts on the existing database: the demo data is
    not loaded twice and what the operator changed is kept."""
    _skip_if_missing()
    home = tmp_path / "home"
    env, ports = _env(home)
    log = tmp_path / "polyvox-up.log"
    sa = _start(home, env, ports, log)
    try:
        _wait_ready(sa)
        admin = sa.login("platform", "admin", "changeme")
        relays = sa.get("platform", "/rtpengines", admin).json()
        put = httpx.put(f"{sa.api}/api/platform/rtpengines/{relays[0]['id']}",
                        json={"weight": 7}, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
        assert put.status_code == 200, put.text
        os.killpg(sa.proc.pid, signal.SIGINT)
        assert sa.proc.wait(timeout=60) == 0, sa.output()[-4000:]
        _wait_group_gone(sa)
    finally:
        _cleanup(sa)
    first = log.read_text(errors="replace")
    assert "demo credentials" in first

    again = _start(home, env, ports, log)
    try:
        _wait_ready(again)
        second = log.read_text(errors="replace")[len(first):]
        assert "roles: api, rtpengine" in second, second[-4000:]
        admin = again.login("platform", "admin", "changeme")
        brands = again.get("platform", "/brands", admin)
        assert [b["name"] for b in brands.json()] == ["DemoBrand"]
        assert [(r["url"], r["weight"]) for r in again.get("platform", "/rtpengines", admin).json()] == [
            (f"udp:{HOST}:{again.ng_port}", 7)]
        assert again.proc.poll() is None
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(timeout=60) == 0, again.output()[-4000:]
        _wait_group_gone(again)
    finally:
        _cleanup(again)


def test_a_busy_port_is_refused_before_any_role_starts(tmp_path: Path) -> None:
    """A port held by another program (a system Kamailio on 5060, say) would make its role exit
    and be restarted forever: ``polyvox up`` refuses to start, naming the port and the variable
    that moves it, and starts nothing."""
    _skip_if_missing()
    home = tmp_path / "home"
    env, ports = _env(home)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((HOST, ports["users"]))
    try:
        proc = subprocess.run([sys.executable, "-m", "polyvox.cli", "up"], env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        holder.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"UDP {HOST}:{ports['users']} (proxy-users, POLYVOX_SIP_USERS_PORT) is not available" in proc.stderr
    assert "roles:" not in proc.stdout  # nothing was started
    assert not (home / "polyvox.sqlite3").exists()  # nor the database created
