"""Calls per second through proxy-users, against a bare Kamailio relay measured in the same run.

Run: .venv/bin/python bench/sip_cps.py [--rate CPS] [--seconds S] [--children N]
     .venv/bin/python bench/sip_cps.py --retail [--start CPS] [--max-rate CPS] [--seconds S]
                                       [--budget SECONDS] [--children N] [--pg]

Polyvox run: sipp UAC (alice, digest auth on every call: INVITE, 407, ACK, INVITE) ->
proxy-users (KEMI Python: domain/terminal lookups, auth, rtpengine offer/answer/delete,
X-Info headers, application-server choice) -> sipp UAS standing in for the application server.
Reference run: sipp UAC (no auth) -> a native-cfg Kamailio doing a stateful record-routed relay
to the same sipp UAS (no database, no media relay). Every call: 200 ms of talk, then BYE.

Prints, for each run, completed/failed calls and Kamailio CPU time per call (all Kamailio
processes, from /proc), then the ratio Polyvox / reference. Everything is on 127.0.0.1, every
process is bounded (-m, -timeout, outer timeouts) and stopped by PID. Not a test: no assertion.

``--retail`` (issue 4): the highest calls per second with under 0.5 % failed calls for a RETAIL
outbound call through BOTH proxies -- sipp UAC (a retail account, digest auth on every call) ->
proxy-users (brand domain, retail account, CLID fallback DDI, rtpengine, X-Info-* context) ->
proxy-trunks (concurrent-call limits, "no rating plan, no call" check, outgoing routing, carrier
choice, rtpengine, dialog and call record in ``kam_trunks_cdrs``) -> sipp UAS as the carrier
server -- as a ratio of the same search on the bare Kamailio relay, in the same run. The search
doubles the rate from ``--start`` while a step of ``--seconds`` seconds stays under 0.5 % failed
(failed = not completed: errors, timeouts, unanswered), then bisects between the last good and
the first bad rate while the time ``--budget`` lasts; ``--max-rate`` caps it (a capped result is
printed as ">="). The bare relay's search starts at the retail result. Kamailio CPU per call (both
proxies for the retail call, from /proc) is printed too: on a small machine the bare relay's limit
may be the two sipp processes rather than Kamailio, and then the CPU ratio is the better figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.provision: the API client the SIP tests provision with

from tests.provision import Provisioner  # noqa: E402

from polyvox.api import seeding  # noqa: E402
from polyvox.db.engine import make_engine, upgrade  # noqa: E402
from polyvox.media import rtpengine as rtpe  # noqa: E402
from polyvox.platform.proxy_settings import ProxySettings  # noqa: E402
from polyvox.sip import render  # noqa: E402

SCEN = ROOT / "tests" / "sip" / "scenarios"
# the demo terminals' SIP passwords (seeding.USERS: name, e-mail, extension, terminal, password, web)
DEMO_SIP_PASSWORD = {term: password for _n, _e, _x, term, password, _w in seeding.USERS}
BARE_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children={children}
listen=udp:127.0.0.1:{port}
auto_aliases=no
disable_tcp=yes
mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("OPTIONS") && uri == myself) {{ sl_send_reply("200", "Keepalive"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    t_check_trans();
    remove_hf("Route");
    if (is_method("INVITE")) record_route();
    $du = "sip:127.0.0.1:{uas_port}";
    t_relay();
}}
"""


def load_test_settings() -> dict[str, object]:
    """All the load comes from one sipp on 127.0.0.1: turn the per-source anti-flood (12.2) and
    anti-brute-force (12.7) protections of proxy-users off, when this version has them."""
    names = {f.name for f in dataclasses.fields(ProxySettings)}
    wanted: dict[str, object] = {"flood_density": 1_000_000, "ban_threshold": 1_000_000}
    return {k: v for k, v in wanted.items() if k in names}


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def api_role(url: str, work: Path) -> Iterator[Provisioner]:
    """The API role (``polyvox api``) on a free loopback port over the bench database, logged in as
    the demo global operator: the bench provisions its configuration the way an operator does, each
    row through its owner's level and token, so the engine's rules derive what they derive (domains,
    E.164 numbers, carrier server addresses) and bump the configuration version. The role is stopped
    (by PID) when the provisioning ends, before any load: it takes no CPU from the measured runs."""
    port = free_port(socket.SOCK_STREAM)
    env = {**os.environ, "POLYVOX_DATABASE_URL": url, "POLYVOX_HOME": str(work / "api-home")}
    log = work / "api.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "polyvox.cli", "api", "--host", "127.0.0.1", "--port",
                                 str(port)], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=ROOT)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"polyvox api exited:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if http.get("/api/platform/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"polyvox api not ready:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield Provisioner(http)
    finally:
        http.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _id(value: Any) -> Any:
    """A relation as the API reads it (an object with its id, or the id) -> the id to write back."""
    return value["id"] if isinstance(value, dict) else value


def demo_ids(prov: Provisioner) -> tuple[int, int]:
    """(DemoBrand, DemoCompany) as the global operator and the brand see them."""
    brand = next(int(b["id"]) for b in prov.platform.list("brands") if b["name"] == "DemoBrand")
    company = next(int(c["id"]) for c in prov.brand(brand).list("companies") if c["name"] == "DemoCompany")
    return brand, company


def use_media_relay(prov: Provisioner, ng_url: str) -> None:
    """The bench's rtpengine replaces the demo media relay (global operator)."""
    for relay in prov.platform.list("rtpengines"):
        prov.platform.put(f"rtpengines/{relay['id']}", {"url": ng_url})


def use_application_server(prov: Provisioner, name: str, address: str) -> None:
    """The only application server of the platform is ``address`` (global operator): the demo
    server, in the demo set, is pointed there."""
    servers = prov.platform.list("application_servers")
    prov.platform.put(f"application_servers/{servers[0]['id']}", {"name": name, "ip": address})
    for extra in servers[1:]:
        prov.platform.delete(f"application_servers/{extra['id']}")


def tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def wait_options(port: int, timeout: float = 15.0) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.3)
    me = s.getsockname()[1]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{random.random()}"
                   f"\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {random.random()}\r\n"
                   "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            s.sendto(msg.encode(), ("127.0.0.1", port))
            try:
                if s.recv(4096):
                    return
            except TimeoutError:
                continue
        raise RuntimeError(f"kamailio on {port} not ready")
    finally:
        s.close()


def run_load(work: Path, proxy_port: int, uac_scenario: str, csv: str, rate: int, calls: int, extra: list[str],
             kam_pid: int, uas_port: int, extra_pids: list[int] | None = None) -> dict[str, float]:
    limit = int(calls / rate) + 30
    uas = subprocess.Popen(["timeout", str(limit + 10), "sipp", "-sf", str(SCEN / "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(uas_port), "-m", str(calls), "-nostdin", "-timeout", f"{limit}s",
                            "-mp", str(free_port())],
                           cwd=work, stdout=subprocess.DEVNULL, stderr=(work / "uas.log").open("ab"))
    time.sleep(0.3)
    if uas.poll() is not None:  # could not bind (port taken meanwhile by another process): no load run
        return {"ok": 0.0, "failed": float("nan"), "elapsed": 0.3, "cpu": 0.0, "rc": float(uas.returncode),
                "uas_died": 1.0}
    (work / "uac.csv").write_text("SEQUENTIAL\n" + csv + "\n")
    pids = tree(kam_pid) + [p for extra_pid in extra_pids or [] for p in tree(extra_pid)]
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    uac = subprocess.run(["timeout", str(limit + 10), "sipp", f"127.0.0.1:{proxy_port}", "-sf", str(SCEN / uac_scenario),
                          "-inf", str(work / "uac.csv"), "-i", "127.0.0.1", "-p", str(free_port()), "-r", str(rate),
                          "-m", str(calls), "-nostdin", "-timeout", f"{limit}s", "-recv_timeout", "5000",
                          "-mp", str(free_port()), *extra],
                         cwd=work, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(pids) - cpu0
    uas.terminate()
    uas.wait(10)
    out = uac.stdout + uac.stderr
    ok = _stat(out, "Successful call")
    failed = _stat(out, "Failed call")
    if not ok >= calls:  # kept for a post-mortem with POLYVOX_BENCH_KEEP=1
        (work / f"uac-{proxy_port}-{rate}.txt").write_text(out[-20000:])
    return {"ok": ok, "failed": failed, "elapsed": elapsed, "cpu": cpu, "rc": uac.returncode}


def _stat(out: str, label: str) -> float:
    found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return float(found[-1]) if found else float("nan")


def report(name: str, r: dict[str, float]) -> float:
    per_call = r["cpu"] / r["ok"] * 1e6 if r["ok"] else float("nan")
    print(f"{name:28} {int(r['ok']):6} ok {int(r['failed']) if r['failed'] == r['failed'] else -1:5} failed "
          f"{r['ok'] / r['elapsed']:8.1f} calls/s  kamailio CPU {per_call:7.0f} µs/call  (sipp rc {int(r['rc'])})")
    return per_call


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=None, help="seconds of load (default 10; --retail: per step, 4)")
    ap.add_argument("--children", type=int, default=8)
    ap.add_argument("--retail", action="store_true",
                    help="max calls/s under 0.5 %% failures, retail call through both proxies vs bare relay")
    ap.add_argument("--start", type=int, default=25, help="--retail: first rate tried (calls/s)")
    ap.add_argument("--max-rate", type=int, default=3200, help="--retail: highest rate tried (calls/s)")
    ap.add_argument("--budget", type=float, default=75.0,
                    help="--retail: seconds of load per system (search stops when spent)")
    ap.add_argument("--pg", action="store_true", help="--retail: PostgreSQL (POLYVOX_TEST_PG admin URL) "
                    "instead of SQLite")
    args = ap.parse_args()
    if args.retail:
        return retail_main(args)
    missing = [b for b in ("kamailio", "sipp", "rtpengine") if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 1
    calls = args.rate * (args.seconds if args.seconds is not None else 10)
    work = Path(tempfile.mkdtemp(prefix="polyvox-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
        upgrade(url)
        eng = make_engine(url)
        with eng.begin() as c:
            seeding.first_start(c, demo=True)
        ng_port, uas_port = free_port(), free_port()
        base = random.randrange(20000, 28000, 2000)
        rs = rtpe.RtpengineSettings(ng_listen=f"127.0.0.1:{ng_port}", port_min=base, port_max=base + 1999,
                                    log_level=3, delete_delay=0)
        procs.append(subprocess.Popen(rtpe.argv(rs, rtpe.binary() or "rtpengine"), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        eng.dispose()
        with api_role(url, work) as prov:
            use_media_relay(prov, f"udp:127.0.0.1:{ng_port}")
            use_application_server(prov, "bench-uas", f"127.0.0.1:{uas_port}")
            brand, company = demo_ids(prov)
            prov.update("Company", company, owner={"brand": brand}, distributeMethod="static")

        port = free_port()
        ps = ProxySettings(home=work / "home", database_url=url, port=port, children=args.children, tcp=False,
                           shm_mb=1024, debug=1, **load_test_settings())  # type: ignore[arg-type]
        r = render.render(ps)
        kam_log = (work / "proxy-users.log").open("wb")
        kam = subprocess.Popen(r.argv, stdout=kam_log, stderr=subprocess.STDOUT)
        procs.append(kam)
        wait_options(port)
        print(f"{calls} calls at {args.rate}/s, {args.children} Kamailio workers, 2 shared sipp processes, loopback")
        poly = run_load(work, port, "uac_auth_call.xml", "alice;127.0.0.1;[authentication username=alice "
                        f"password={DEMO_SIP_PASSWORD['alice']}];102", args.rate, calls, [], kam.pid, uas_port)
        kam.terminate()
        kam.wait(10)

        bare_port = free_port()
        cfg = work / "bare.cfg"
        cfg.write_text(BARE_CFG.format(children=args.children, port=bare_port, mpath=render.module_path(),
                                       uas_port=uas_port))
        bare = subprocess.Popen([render.kamailio_binary() or "kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(work),
                                 "-m", "1024", "-M", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(bare)
        wait_options(bare_port)
        ref = run_load(work, bare_port, "uac_plain_call.xml", "127.0.0.1", args.rate, calls,
                       ["-s", "102"], bare.pid, uas_port)
        p = report("proxy-users (KEMI, auth, rtpengine)", poly)
        b = report("bare Kamailio relay (native)", ref)
        print(f"ratio proxy-users / bare relay: {p / b:.2f}x Kamailio CPU per call "
              "(proxy-users also answers the auth challenge and drives rtpengine three times per call)")
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if os.environ.get("POLYVOX_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ --retail (issue 4)

FAIL_LIMIT = 0.005  # "under 0.5 % failures"
RETAIL_DOMAIN = "retail.bench.test"
RETAIL_USER, RETAIL_PASSWORD = "benchra", "BenchRA+2024"  # strong, as the API demands of SIP passwords
RETAIL_CALLEE = "0034911222333"  # the client dials national-international format; E.164 +34911222333


def provision_spain_carrier(prov: Provisioner, brand: int, company: int, uas_port: int) -> None:
    """As the brand operator: a carrier whose only server is the sipp UAS on ``uas_port`` (no number
    transformation: an empty rule set), a static route of the brand for +34 and an active +34
    rating plan for ``company``."""
    def add(entity: str, **body: object) -> int:
        return prov.create(entity, brand=brand, **body)

    rules = add("TransformationRuleSet", name={"en": "bench carrier", "es": "bench carrier"}, description="",
                generateRules=False)
    carrier = add("Carrier", name="bench-carrier", description="", transformationRuleSet=rules)
    add("CarrierServer", carrier=carrier, sipProxy=f"127.0.0.1:{uas_port}", authNeeded="no", sendPAI=False,
        sendRPID=False, transport=1, uriScheme=1)
    pattern = add("RoutingPattern", prefix="+34", name={"en": "Spain", "es": "España"})
    add("OutgoingRouting", type="pattern", routingPattern=pattern, priority=1, weight=1, routingMode="static",
        carrier=carrier, stopper=False, disableDiversion=False)
    plan_group = add("RatingPlanGroup", name={"en": "bench plan", "es": "bench plan"})
    rates = add("DestinationRateGroup", name={"en": "bench rates", "es": "bench rates"},
                deductibleConnectionFee=False)
    dest = add("Destination", prefix="+34", name={"en": "Spain", "es": "España"})
    add("DestinationRate", destinationRateGroup=rates, destination=dest, cost="1", connectFee="0",
        rateIncrement="1s", groupIntervalStart="0s")
    add("RatingPlan", ratingPlanGroup=plan_group, destinationRateGroup=rates, weight=10, timingType="always",
        timeIn="00:00:00")
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
    add("RatingProfile", company=company, ratingPlanGroup=plan_group, activationTime=since)


def setup_retail(prov: Provisioner, uas_port: int) -> None:
    """A retail client of the demo brand with one retail account, a fallback DDI (CLID), one carrier
    whose only server is the sipp UAS, a static route for +34 and an active rating plan for +34:
    the global operator gives DemoBrand its SIP domain (retail accounts register there), the brand
    operator creates the rest."""
    brand, demo_id = demo_ids(prov)
    prov.platform.put(f"brands/{brand}", {"domainUsers": RETAIL_DOMAIN})
    demo = prov.brand(brand).get(f"companies/{demo_id}")
    body = {k: _id(demo[k]) for k in ("applicationServerSet", "mediaRelaySet", "country", "transformationRuleSet",
                                      "language", "defaultTimezone", "currency")}
    company = prov.create("Company", brand=brand, **body, type="retail", name="BenchRetail", maxCalls=0,
                          maxDailyUsage=demo["maxDailyUsage"], billingMethod="postpaid", allowRecordingRemoval=True,
                          onDemandRecordEmail="disabled", ipfilter=False)
    ddi = prov.create("Ddi", company=company, ddi="944000001", type="inout", useDdiProviderRoutingTag=False)
    prov.update("Company", company, owner={"brand": brand}, outgoingDdi=ddi)
    prov.create("RetailAccount", company=company, name=RETAIL_USER, password=RETAIL_PASSWORD,
                directConnectivity="no", ddiIn="yes", multiContact=True, description="", transport="udp",
                t38Passthrough="no", rtpEncryption=False)
    provision_spain_carrier(prov, brand, company, uas_port)


def search(name: str, trial: Callable[[int], dict[str, float]], start: int, max_rate: int, seconds: int,
           budget: float) -> tuple[int, bool, dict[int, dict[str, float]]]:
    """Highest rate (calls/s) whose step of ``seconds`` seconds has <= 0.5 % failed calls.

    Doubling from ``start`` until a step fails or ``max_rate``, then bisection between the last good
    and the first bad rate (to 1/8 of the good rate) while ``budget`` seconds of load are left.
    Returns (best rate, capped at max_rate, per-rate results)."""
    good, bad = 0, 0
    results: dict[int, dict[str, float]] = {}
    spent, rate = 0.0, max(1, start)
    while rate not in results and spent + seconds <= budget:
        r = trial(rate)
        for _ in range(2):
            if not r.get("uas_died"):
                break
            print(f"  {name:13} {rate:5}/s: the sipp UAS exited at start (see uas.log), step repeated", flush=True)
            time.sleep(1.0)
            r = trial(rate)
        results[rate] = r
        spent += r["elapsed"]
        failed = r["calls"] - r["ok"]
        passed = failed <= FAIL_LIMIT * r["calls"]
        per_call = r["cpu"] / r["ok"] * 1e6 if r["ok"] else float("nan")
        print(f"  {name:13} {rate:5}/s: {int(r['ok']):6}/{int(r['calls'])} completed, "
              f"{100 * failed / r['calls']:5.1f} % failed, {r['ok'] / r['elapsed']:7.1f} calls/s, "
              f"Kamailio CPU {per_call:6.0f} us/call -> {'ok' if passed else 'over 0.5 %'}", flush=True)
        if passed:
            good = max(good, rate)
        else:
            bad = rate if not bad else min(bad, rate)
        if not bad:
            if rate >= max_rate:
                break
            rate = min(rate * 2, max_rate)
        else:
            if bad - good <= max(1, good // 8):
                break
            rate = (good + bad) // 2
        time.sleep(1.0)  # let the dialogs and media sessions of the step end
    return good, good >= max_rate, results


def _pg_database() -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, make_url, text

    admin_url = os.environ.get("POLYVOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"polyvox_bench_{os.getpid()}_{random.randrange(10**6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def retail_main(args: argparse.Namespace) -> int:
    missing = [b for b in ("kamailio", "sipp", "rtpengine") if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 1
    seconds = args.seconds if args.seconds is not None else 4
    work = Path(tempfile.mkdtemp(prefix="polyvox-bench-retail-"))
    procs: list[subprocess.Popen[bytes]] = []
    drop_db: Callable[[], None] | None = None
    t_start = time.monotonic()
    try:
        if args.pg:
            url, drop_db = _pg_database()
        else:
            url = f"sqlite:///{work / 'bench.sqlite3'}"
        upgrade(url)
        eng = make_engine(url)
        with eng.begin() as c:
            seeding.first_start(c, demo=True)
        ng_port, uas_port = free_port(), free_port()
        base = random.randrange(20000, 26001, 2000)  # 4000 media ports: two relayed legs per call
        rs = rtpe.RtpengineSettings(ng_listen=f"127.0.0.1:{ng_port}", port_min=base, port_max=base + 3999,
                                    log_level=3, delete_delay=0)
        procs.append(subprocess.Popen(rtpe.argv(rs, rtpe.binary() or "rtpengine"), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        eng.dispose()
        with api_role(url, work) as prov:
            use_media_relay(prov, f"udp:127.0.0.1:{ng_port}")
            setup_retail(prov, uas_port)

        users_port, trunks_port = free_port(), free_port()
        users = ProxySettings(home=work / "home", database_url=url, port=users_port, children=args.children,
                              tcp=False, shm_mb=256, debug=1, **load_test_settings())  # type: ignore[arg-type]
        trunks = users.with_(name="proxy-trunks", port=trunks_port, users_proxy=f"127.0.0.1:{users_port}")
        r_trunks = render.render(trunks)
        kam_trunks = subprocess.Popen(r_trunks.argv, stdout=(work / "proxy-trunks.log").open("wb"),
                                      stderr=subprocess.STDOUT)
        procs.append(kam_trunks)
        r_users = render.render(users)
        env = {**os.environ, "POLYVOX_SIP_TRUNKS_PORT": str(trunks_port)}
        kam_users = subprocess.Popen(r_users.argv, stdout=(work / "proxy-users.log").open("wb"),
                                     stderr=subprocess.STDOUT, env=env)
        procs.append(kam_users)
        wait_options(trunks_port)
        wait_options(users_port)
        print(f"retail outbound call through proxy-users and proxy-trunks vs bare Kamailio relay; "
              f"{args.children} Kamailio workers per proxy, {seconds} s steps, <= {FAIL_LIMIT:.1%} failed, "
              f"{'PostgreSQL' if args.pg else 'SQLite'}, loopback, 2 shared sipp processes")
        csv = f"{RETAIL_USER};{RETAIL_DOMAIN};[authentication username={RETAIL_USER} password={RETAIL_PASSWORD}];" \
              f"{RETAIL_CALLEE}"

        def retail_trial(rate: int) -> dict[str, float]:
            calls = rate * seconds
            r = run_load(work, users_port, "uac_auth_call.xml", csv, rate, calls, [], kam_users.pid, uas_port,
                         extra_pids=[kam_trunks.pid])
            return {**r, "calls": calls}

        retail_best, retail_capped, retail_runs = search("retail", retail_trial, args.start, args.max_rate,
                                                         seconds, args.budget)
        with make_engine(url).connect() as c:
            from polyvox.db.cdr import kam_trunks_cdrs

            records = c.execute(select(func.count()).select_from(kam_trunks_cdrs)
                                .where(kam_trunks_cdrs.c.disconnectCode == 200)).scalar_one()
        for proc in (kam_users, kam_trunks):
            proc.terminate()
            proc.wait(10)

        bare_port = free_port()
        cfg = work / "bare.cfg"
        cfg.write_text(BARE_CFG.format(children=args.children, port=bare_port, mpath=render.module_path(),
                                       uas_port=uas_port))
        bare = subprocess.Popen([render.kamailio_binary() or "kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(work),
                                 "-m", "256", "-M", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(bare)
        wait_options(bare_port)

        def bare_trial(rate: int) -> dict[str, float]:
            calls = rate * seconds
            r = run_load(work, bare_port, "uac_plain_call.xml", "127.0.0.1", rate, calls, ["-s", "102"], bare.pid,
                         uas_port)
            return {**r, "calls": calls}

        # the bare relay starts where the retail search ended (it is at least as fast; if not, the
        # search bisects down from there)
        bare_best, bare_capped, bare_runs = search("bare relay", bare_trial, retail_best or args.start,
                                                   args.max_rate, seconds, args.budget)

        def fmt(best: int, capped: bool) -> str:
            return f"{'>=' if capped else ''}{best}"

        def cpu_at(runs: dict[int, dict[str, float]], best: int) -> float:
            r = runs.get(best)
            return r["cpu"] / r["ok"] * 1e6 if r and r["ok"] else float("nan")

        def achieved(runs: dict[int, dict[str, float]], best: int) -> float:
            r = runs.get(best)
            return r["ok"] / r["elapsed"] if r and r["elapsed"] else float("nan")

        print("summary (highest rate tried with <= 0.5 % failed calls, same machine, same run):")
        print(f"  retail via proxy-users + proxy-trunks: {fmt(retail_best, retail_capped):>6} calls/s offered "
              f"({achieved(retail_runs, retail_best):.0f} completed/s over the step incl. its tail; Kamailio CPU "
              f"{cpu_at(retail_runs, retail_best):.0f} us/call, both proxies; {records} answered call records "
              "written by proxy-trunks)")
        print(f"  bare Kamailio relay:                   {fmt(bare_best, bare_capped):>6} calls/s offered "
              f"({achieved(bare_runs, bare_best):.0f} completed/s; Kamailio CPU "
              f"{cpu_at(bare_runs, bare_best):.0f} us/call)")
        if bare_best:
            bound = "" if not (retail_capped or bare_capped) else " (a capped side makes it a bound)"
            print(f"  ratio retail / bare relay, calls/s: {retail_best / bare_best:.2f}{bound}")
            bare_cpu = cpu_at(bare_runs, bare_best)
            if bare_cpu > 0:  # 0 when the step was too short for the 10 ms CPU tick
                print(f"  ratio retail / bare relay, Kamailio CPU per call: "
                      f"{cpu_at(retail_runs, retail_best) / bare_cpu:.1f}")
        print(f"  total wall time {time.monotonic() - t_start:.0f} s")
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if drop_db is not None:
            drop_db()
        if os.environ.get("POLYVOX_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
