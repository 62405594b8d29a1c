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
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, select, text

from polyvox.api.seeding import USERS as DEMO_USERS
from polyvox.db.engine import make_engine
from polyvox.db.model import ENTITY
from polyvox.media import rtpengine as rtpe
from polyvox.media.ng import NGClient
from polyvox.platform.proxy_settings import ProxySettings
from polyvox.sip import render
from tests.provision import Provisioner
from tests.sip.ua import UA

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
DOMAIN = "127.0.0.1"  # DemoCompany's SIP domain (spec 5.2.1, "the DNS trick")
ALICE_PW, BOB_PW = (terminal_password for _n, _e, _x, _t, terminal_password, _w in DEMO_USERS)


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


def free_udp_block(count: int) -> int:
    """The first of ``count`` consecutive UDP ports free on 127.0.0.1, the first even: sipp's ``-mp``
    binds audio RTP/RTCP and video RTP/RTCP on four ports from it."""
    for _ in range(100):
        base = random.randrange(20000, 60000 - count, 2)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports")


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


class ApiProcess:
    """The API role (``polyvox api``) on a free loopback port over the test platform's database."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.port = free_port(False)
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "POLYVOX_DATABASE_URL": url, "POLYVOX_HOME": str(tmp / "api-home"),
               "POLYVOX_API_HOST": "127.0.0.1", "POLYVOX_API_PORT": str(self.port),
               "POLYVOX_JWT_SECRET": "sip-tests-jwt-secret-0123456789abcdef"}
        self.log = tmp / "api.log"
        with self.log.open("wb") as fh:
            self.p = subprocess.Popen([sys.executable, "-m", "polyvox.cli", "api"], stdout=fh,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            if self.p.poll() is not None:
                raise RuntimeError(f"polyvox api exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                if self.http.get("/api/platform/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"polyvox api not ready:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        self.prov = Provisioner(self.http)

    def stop(self) -> None:
        self.http.close()
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


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
    api: ApiProcess
    uas: list[UA] = field(default_factory=list)

    @property
    def prov(self) -> Provisioner:
        """Configuration goes through the running platform's API, each level with its own token."""
        return self.api.prov

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
        """A new terminal and user of DemoCompany, created by its client administrator."""
        company = self.company_id()
        tid = self.prov.create("Terminal", company=company, name=name, password=password, disallow="all",
                               allowAudio="alaw", directMediaMethod="update", t38Passthrough="no",
                               rtpEncryption=False)
        uid = self.prov.create("User", company=company, name=name.title(), lastname="Test",
                               email=f"{name}@test.example", active=True, doNotDisturb=False, isBoss=False,
                               **{"pass": password},  # an active user needs a portal password
                               maxCalls=0, externalIpCalls="0", rejectCallMethod="rfc", multiContact=multi_contact,
                               gsQRCode=False, useDefaultLocation=True, terminal=tid)
        return tid, uid

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
                 "-error_file", str(work / "errors.log"), "-mp", str(free_udp_block(4))]
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
    sip_port = free_port()
    settings = ProxySettings(home=tmp / "home", database_url=url, host="127.0.0.1", port=sip_port, children=2,
                             tcp_children=1, shm_mb=64, pkg_mb=16, debug=2, as_timeout_ms=1000,
                             as_down_seconds=30, fr_inv_timer=20000, sync_interval=1)
    kam: Proc | None = None
    api: ApiProcess | None = None
    try:
        api = ApiProcess(url, tmp)
        for relay in api.prov.platform.list("rtpengines"):
            api.prov.platform.put(f"rtpengines/{relay['id']}", {"url": ng_url})
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
                      kamailio=kam, rtpengine=rtp, tmp=tmp, api=api)
        yield pf
    finally:
        if kam is not None:
            kam.stop()
        if api is not None:
            api.stop()
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
    of the platform's set (and DemoCompany's distribute method) for one test, through the global
    operator's API; the demo servers come back afterwards."""
    god = pv.prov.platform
    company = pv.company_id()
    sets = god.list("application_server_sets")
    saved = god.list("application_servers")
    brand = pv.prov.brand(pv.prov.brand_of(company))  # platform data, set by the operator emulating the brand
    method = brand.get(f"companies/{company}")["distributeMethod"]

    def replace(servers: list[tuple[str, str]]) -> None:
        for row in god.list("application_servers"):
            god.delete(f"application_servers/{row['id']}")
        ids = [god.post("application_servers", {"name": name, "ip": ip})["id"] for name, ip in servers]
        for s in sets:
            god.put(f"application_server_sets/{s['id']}", {"applicationServers": ids})

    def set_servers(addresses: list[str], distribute: str = "static") -> None:
        replace([(f"as-test-{i}", addr) for i, addr in enumerate(addresses)])
        brand.put(f"companies/{company}", {"distributeMethod": distribute})

    yield set_servers
    replace([(row["name"], row["ip"]) for row in saved])
    brand.put(f"companies/{company}", {"distributeMethod": method})


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
