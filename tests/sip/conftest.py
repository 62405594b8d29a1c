"""SIP test harness: a migrated database with the demo data, rtpengine and proxy-users (Kamailio)
started by PID on free loopback ports, and helpers to drive them (Python UA, sipp).

One platform per test session (startup ~1 s); every test leaves the shared data as it found it
(application servers are replaced through the ``app_servers`` fixture, new endpoints get new
names). Every process is bounded in time and stopped by its PID.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, insert, make_url, select, text, update

from polyvox.db.engine import make_engine
from polyvox.db.model import ENTITY, config_version
from polyvox.media import rtpengine as rtpe
from polyvox.media.ng import NGClient
from polyvox.sip import render
from polyvox.sip.settings import ProxySettings
from tests.sip.ua import UA

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
DOMAIN = "127.0.0.1"  # DemoCompany's SIP domain (spec 5.2.1, "the DNS trick")


def missing_tools() -> list[str]:
    missing = []
    if not render.kamailio_binary():
        missing.append("kamailio (apt-get install kamailio)")
    elif not Path(render.module_path(), "app_python3.so").exists():
        missing.append("app_python3 (apt-get install kamailio-python3-modules)")
    elif not Path(render.module_path(), "rtpengine.so").exists():
        missing.append("rtpengine module (apt-get install kamailio-extra-modules)")
    if not shutil.which("sipp"):
        missing.append("sipp (apt-get install sip-tester)")
    if not rtpe.binary():
        missing.append("rtpengine (apt-get install rtpengine-daemon)")
    return missing


def free_port(tcp_too: bool = True) -> int:
    """A port free for UDP (and TCP) on 127.0.0.1."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        try:
            if tcp_too:
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    t.close()
            return int(port)
        finally:
            u.close()
    raise RuntimeError("no free port")


def bump(engine: Engine) -> None:
    """What the API does in the same transaction as a configuration change."""
    with engine.begin() as c:
        if c.execute(update(config_version).values(version=config_version.c.version + 1)).rowcount == 0:
            c.execute(insert(config_version).values(id=1, version=1))


class Proc:
    """A child process with its output in a log file; stopped by PID."""

    def __init__(self, argv: list[str], log: Path, name: str) -> None:
        self.name, self.log = name, log
        self._fh = log.open("wb")
        self.p = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._fh.close()


@dataclass
class SippResult:
    rc: int
    messages: str
    output: str


@dataclass
class Platform:
    engine: Engine
    url: str
    settings: ProxySettings
    proxy: tuple[str, int]
    ng_url: str
    kamailio: Proc
    rtpengine: Proc
    tmp: Path
    uas: list[UA] = field(default_factory=list)

    def bump(self) -> None:
        bump(self.engine)

    def ua(self, user: str, password: str | None = None, domain: str = DOMAIN, port: int = 0) -> UA:
        ua = UA(user, domain, self.proxy, password=password, port=port)
        self.uas.append(ua)
        return ua

    def kamcmd(self, *args: str) -> str:
        ctl = f"unix:{self.settings.rundir}/kamailio_ctl"
        r = subprocess.run(["kamcmd", "-s", ctl, *args], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr

    def ng(self) -> NGClient:
        return NGClient(self.ng_url, timeout=1.0)

    def company_id(self, name: str = "DemoCompany") -> int:
        c = ENTITY["Company"].table
        with self.engine.connect() as conn:
            return int(conn.execute(select(c.c.id).where(c.c.name == name)).scalar_one())

    def add_terminal(self, name: str, password: str, multi_contact: bool = True) -> tuple[int, int]:
        """A new terminal + user of DemoCompany (in DemoCompany's domain)."""
        t, u, d = ENTITY["Terminal"].table, ENTITY["User"].table, ENTITY["Domain"].table
        with self.engine.begin() as c:
            dom = c.execute(select(d.c.id, d.c.companyId).where(d.c.domain == DOMAIN)).one()
            tid = c.execute(insert(t).values(companyId=dom.companyId, domainId=dom.id, name=name, password=password,
                                             disallow="all", allowAudio="alaw", directMediaMethod="update",
                                             t38Passthrough="no", rtpEncryption=False)).inserted_primary_key[0]
            uid = c.execute(insert(u).values(companyId=dom.companyId, name=name.title(), lastname="Test",
                                             email=f"{name}@test.example", active=True, doNotDisturb=False,
                                             isBoss=False, maxCalls=0, externalIpCalls="0", rejectCallMethod="rfc",
                                             multiContact=multi_contact, gsQRCode=False, useDefaultLocation=True,
                                             terminalId=tid)).inserted_primary_key[0]
        self.bump()
        return int(tid), int(uid)

    def sipp(self, scenario: str, *args: str, csv: str | None = None, timeout: float = 15.0,
             port: int | None = None) -> SippResult:
        proc = self.sipp_start(scenario, *args, csv=csv, timeout=timeout, port=port, remote=True)
        return proc.result(timeout + 5)

    def sipp_start(self, scenario: str, *args: str, csv: str | None = None, timeout: float = 15.0,
                   port: int | None = None, remote: bool = True) -> SippProc:
        work = self.tmp / f"sipp-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        argv = ["sipp"]
        if remote:
            argv.append(f"{self.proxy[0]}:{self.proxy[1]}")
        argv += ["-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port or free_port(False)),
                 "-m", "1", "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error", "-recv_timeout", "8000",
                 "-trace_msg", "-message_file", str(work / "messages.log"), "-trace_err",
                 "-error_file", str(work / "errors.log"), "-mp", str(free_port(False))]
        if csv is not None:
            (work / "data.csv").write_text("SEQUENTIAL\n" + csv + "\n")
            argv += ["-inf", str(work / "data.csv")]
        argv += list(args)
        return SippProc(argv, work)


class SippProc:
    def __init__(self, argv: list[str], work: Path) -> None:
        self.work = work
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  cwd=work)

    def result(self, timeout: float = 20.0) -> SippResult:
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate(5)
        msgs = self.work / "messages.log"
        errs = self.work / "errors.log"
        text = msgs.read_text(errors="replace") if msgs.exists() else ""
        err = errs.read_text(errors="replace") if errs.exists() else ""
        return SippResult(self.p.returncode, text, out.decode(errors="replace")[-3000:] + err[-3000:])

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)


def _clone_db(template_url: str, tmp: Path) -> tuple[str, object]:
    """A database of its own for the SIP session (SQLite copy or PostgreSQL TEMPLATE clone)."""
    if template_url.startswith("sqlite"):
        dst = tmp / "sip.sqlite3"
        dst.write_bytes(Path(template_url[len("sqlite:///"):]).read_bytes())
        return f"sqlite:///{dst}", None
    from tests.conftest import PG_ADMIN_URL

    name = f"polyvox_sip_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template_url).database}"'))
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False), (admin, name)


def _wait_ready(proxy: tuple[str, int], proc: Proc, timeout: float = 15.0) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            msg = (f"OPTIONS sip:{proxy[0]}:{proxy[1]} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK"
                   f"{uuid.uuid4().hex[:10]}\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:{proxy[0]}>\r\n"
                   f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            sock.sendto(msg.encode(), proxy)
            sock.settimeout(0.3)
            try:
                data = sock.recv(4096)
                if data.startswith(b"SIP/2.0 200"):
                    return
            except TimeoutError:
                pass
        raise RuntimeError(f"{proc.name} not ready after {timeout}s:\n{proc.tail()}")
    finally:
        sock.close()


@pytest.fixture(scope="session")
def platform(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    missing = missing_tools()
    if missing:
        pytest.skip("SIP tests need " + ", ".join(missing))
    tmp = tmp_path_factory.mktemp("sip")
    url, pg = _clone_db(template_db, tmp)
    engine = make_engine(url)

    ng_port = free_port(False)
    base = random.randrange(20000, 29000, 200)
    rs = rtpe.RtpengineSettings(interface="127.0.0.1", ng_listen=f"127.0.0.1:{ng_port}", port_min=base,
                                port_max=base + 199, log_level=6, threads=2, delete_delay=0)
    rtp = Proc(rtpe.argv(rs, rtpe.binary() or "rtpengine"), tmp / "rtpengine.log", "rtpengine")
    ng_url = f"udp:127.0.0.1:{ng_port}"
    r = ENTITY["Rtpengine"].table
    with engine.begin() as c:
        c.execute(update(r).values(url=ng_url))

    sip_port = free_port()
    settings = ProxySettings(home=tmp / "home", database_url=url, host="127.0.0.1", port=sip_port, children=2,
                             tcp_children=1, shm_mb=64, pkg_mb=16, debug=2, as_timeout_ms=1000,
                             as_down_seconds=30, fr_inv_timer=20000, sync_interval=1)
    kam: Proc | None = None
    try:
        with NGClient(ng_url, timeout=0.2, retries=0) as ng:
            for _ in range(50):
                try:
                    if ng.ping():
                        break
                except Exception:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"rtpengine not ready:\n{rtp.tail()}")
        rendered = render.render(settings)
        kam = Proc(rendered.argv, tmp / "kamailio.log", "kamailio")
        _wait_ready(("127.0.0.1", sip_port), kam)
        pf = Platform(engine=engine, url=url, settings=settings, proxy=("127.0.0.1", sip_port), ng_url=ng_url,
                      kamailio=kam, rtpengine=rtp, tmp=tmp)
        yield pf
    finally:
        if kam is not None:
            kam.stop()
        rtp.stop()
        engine.dispose()
        if pg is not None:
            admin, name = pg  # type: ignore[misc]
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture()
def pv(platform: Platform) -> Iterator[Platform]:
    """The platform, checked alive; the UAs a test opens are closed after it."""
    assert platform.kamailio.alive(), platform.kamailio.tail()
    assert platform.rtpengine.alive(), platform.rtpengine.tail()
    yield platform
    for ua in platform.uas:
        ua.close()
    platform.uas.clear()
    if os.environ.get("POLYVOX_SIP_TEST_LOG"):
        print(platform.kamailio.tail(80))


@pytest.fixture()
def app_servers(pv: Platform) -> Iterator[callable]:  # type: ignore[valid-type]
    """``set_servers(["127.0.0.1:PORT", ...], method="static")`` replaces the application servers
    (and DemoCompany's distribute method) for one test; the demo rows come back afterwards."""
    a, c = ENTITY["ApplicationServer"].table, ENTITY["Company"].table
    with pv.engine.connect() as conn:
        saved = [dict(r._mapping) for r in conn.execute(select(a))]
        method = conn.execute(select(c.c.distributeMethod).where(c.c.id == pv.company_id())).scalar_one()

    def set_servers(addresses: list[str], distribute: str = "static") -> None:
        with pv.engine.begin() as conn:
            conn.execute(delete(a))
            for i, addr in enumerate(addresses):
                conn.execute(insert(a).values(name=f"as-test-{i}", ip=addr))
            conn.execute(update(c).where(c.c.id == pv.company_id()).values(distributeMethod=distribute))
        pv.bump()

    yield set_servers
    with pv.engine.begin() as conn:
        conn.execute(delete(a))
        for row in saved:
            conn.execute(insert(a).values(**row))
        conn.execute(update(c).where(c.c.id == pv.company_id()).values(distributeMethod=method))
    pv.bump()


# ----------------------------------------------------------------------------- proxy-trunks
@dataclass
class Trunks:
    """proxy-trunks started on its own free port next to the session's proxy-users (same
    database). Its trusted proxy-users address (``users_proxy``) is a test UA, ``users``, so the
    tests can play proxy-users (retail calls in and out)."""

    pf: Platform
    settings: ProxySettings
    proxy: tuple[str, int]
    kamailio: Proc
    users: UA
    uas: list[UA] = field(default_factory=list)

    def ua(self, user: str, domain: str = DOMAIN, port: int = 0) -> UA:
        ua = UA(user, domain, self.proxy, port=port)
        self.uas.append(ua)
        return ua


@pytest.fixture(scope="session")
def trunks_platform(platform: Platform) -> Iterator[Trunks]:
    from polyvox.db.cdr import kam_trunks_cdrs

    kam_trunks_cdrs.create(platform.engine, checkfirst=True)
    port = free_port()
    users = UA("proxy-users", DOMAIN, ("127.0.0.1", port))
    settings = platform.settings.with_(name="proxy-trunks", port=port, users_proxy=f"127.0.0.1:{users.port}",
                                       carrier_timeout_ms=1000)
    rendered = render.render(settings)
    kam = Proc(rendered.argv, platform.tmp / "kamailio-trunks.log", "proxy-trunks")
    try:
        _wait_ready(("127.0.0.1", port), kam)
        yield Trunks(pf=platform, settings=settings, proxy=("127.0.0.1", port), kamailio=kam, users=users)
    finally:
        kam.stop()
        users.close()


@pytest.fixture()
def trunks(trunks_platform: Trunks) -> Iterator[Trunks]:
    assert trunks_platform.kamailio.alive(), trunks_platform.kamailio.tail()
    trunks_platform.users.drain(0.05)
    trunks_platform.users.pending.clear()
    yield trunks_platform
    for ua in trunks_platform.uas:
        ua.close()
    trunks_platform.uas.clear()
    if os.environ.get("POLYVOX_SIP_TEST_LOG"):
        print(trunks_platform.kamailio.tail(80))
