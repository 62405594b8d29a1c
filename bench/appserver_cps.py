"""Calls per second through the application server, against a bare Kamailio relay (same run).

Run: .venv/bin/python bench/appserver_cps.py [--start CPS] [--max-rate CPS] [--seconds S] [--budget S]
                                             [--children N] [--only internal|external]

Three searches, each for the highest rate (calls/s) whose step of ``--seconds`` seconds has at most
0.5 % failed calls (``sip_cps.search``: doubling from ``--start``, then bisection, within
``--budget`` seconds of load):

* **vPBX internal call**: sipp UAC (alice, digest auth on every call) -> proxy-users -> the
  application server (one ``polyvox appserver`` worker, the real dialplan: extension 102 = user
  Bob) -> proxy-users -> Bob's registered contact, a sipp UAS. 200 ms of talk, BYE.
* **vPBX external call**: alice dials +34911222333 -> proxy-users -> application server (outgoing
  routing of the client, DDI as caller) -> proxy-trunks (route, rating check, carrier) -> sipp UAS
  as the carrier server.
* **bare relay**: sipp UAC -> a native-cfg Kamailio doing a stateful record-routed relay -> the
  same sipp UAS (``sip_cps.BARE_CFG``).

Prints each step, then the best rates and their ratio to the bare relay, and the CPU per call of
the application server worker and of Kamailio (both proxies). Loopback only; every process is
bounded and stopped by PID. Not a test: no assertion.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

import sip_cps  # noqa: E402  (bench/sip_cps.py: processes, loads, search)

from polyvox.api import seeding as seed  # noqa: E402
from polyvox.db.engine import make_engine, upgrade  # noqa: E402
from polyvox.media import rtpengine as rtpe  # noqa: E402
from polyvox.platform.proxy_settings import ProxySettings  # noqa: E402
from polyvox.sip import render  # noqa: E402

CALLEE_EXTERNAL = "+34911222333"


def setup(prov: sip_cps.Provisioner, ng_port: int, uas_port: int, as_port: int) -> None:
    """Through the API, each row at its owner's level: the bench's rtpengine and the application
    server worker (global operator); DemoCompany distributing statically, with an outgoing DDI, and
    a carrier whose only server is the sipp UAS, a +34 route and an active +34 rating plan (brand
    operator)."""
    sip_cps.use_media_relay(prov, f"udp:127.0.0.1:{ng_port}")
    sip_cps.use_application_server(prov, "bench-as", f"127.0.0.1:{as_port}")
    brand, company = sip_cps.demo_ids(prov)
    ddi = prov.create("Ddi", company=company, ddi="944000001", type="inout", useDdiProviderRoutingTag=False)
    prov.update("Company", company, owner={"brand": brand}, outgoingDdi=ddi, distributeMethod="static")
    sip_cps.provision_spain_carrier(prov, brand, company, uas_port)


def register_bob(users_port: int, uas_port: int) -> None:
    """Bob's terminal registered with the sipp UAS as its contact (through proxy-users)."""
    from tests.sip.ua import UA

    ua = UA("bob", "127.0.0.1", ("127.0.0.1", users_port), password=sip_cps.DEMO_SIP_PASSWORD["bob"])
    try:
        r = ua.register(expires=3600, contact=f"<sip:bob@127.0.0.1:{uas_port}>")
        if r.status != 200:
            raise RuntimeError(f"bob's REGISTER failed: {r.first}")
    finally:
        ua.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=20, help="first rate tried (calls/s)")
    ap.add_argument("--max-rate", type=int, default=400, help="highest rate tried (calls/s)")
    ap.add_argument("--seconds", type=int, default=3, help="seconds of load per step")
    ap.add_argument("--budget", type=float, default=40.0, help="seconds of load per search")
    ap.add_argument("--children", type=int, default=8, help="Kamailio workers per proxy")
    ap.add_argument("--only", choices=("internal", "external"), help="run only one of the app server searches")
    args = ap.parse_args()
    missing = [b for b in ("kamailio", "sipp", "rtpengine") if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="polyvox-bench-as-"))
    procs: list[subprocess.Popen[bytes]] = []
    t_start = time.monotonic()
    try:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
        upgrade(url)
        eng = make_engine(url)
        with eng.begin() as c:
            seed.first_start(c, demo=True)
        ng_port, uas_port, as_port = sip_cps.free_port(), sip_cps.free_port(), sip_cps.free_port()
        base = random.randrange(20000, 28000, 2000)
        rs = rtpe.RtpengineSettings(ng_listen=f"127.0.0.1:{ng_port}", port_min=base, port_max=base + 1999,
                                    log_level=3, delete_delay=0)
        procs.append(subprocess.Popen(rtpe.argv(rs, rtpe.binary() or "rtpengine"), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        eng.dispose()
        with sip_cps.api_role(url, work) as prov:
            setup(prov, ng_port, uas_port, as_port)

        users_port, trunks_port = sip_cps.free_port(), sip_cps.free_port()
        # every sipp call comes from 127.0.0.1: lift proxy-users' anti-flood (spec 12.2, pike) for the run
        no_flood = {"flood_density": 10**6} if "flood_density" in {f.name for f in fields(ProxySettings)} else {}
        users = ProxySettings(home=work / "home", database_url=url, port=users_port, children=args.children,
                              tcp=False, shm_mb=256, debug=1, **no_flood)  # type: ignore[arg-type]
        trunks = users.with_(name="proxy-trunks", port=trunks_port, users_proxy=f"127.0.0.1:{users_port}")
        env = {**os.environ, "POLYVOX_SIP_TRUNKS_PORT": str(trunks_port), "POLYVOX_DATABASE_URL": url,
               "POLYVOX_HOME": str(work / "home"), "POLYVOX_SIP_HOST": "127.0.0.1",
               "POLYVOX_SIP_USERS_PORT": str(users_port), "SIPLOG_BEND": "none",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        kam_trunks = subprocess.Popen(render.render(trunks).argv, stdout=(work / "proxy-trunks.log").open("wb"),
                                      stderr=subprocess.STDOUT)
        procs.append(kam_trunks)
        kam_users = subprocess.Popen(render.render(users).argv, stdout=(work / "proxy-users.log").open("wb"),
                                     stderr=subprocess.STDOUT, env=env)
        procs.append(kam_users)
        worker = subprocess.Popen([sys.executable, "-m", "polyvox.cli", "appserver", "--host", "127.0.0.1",
                                   "--port", str(as_port), "--workers", "1"], env=env, cwd=ROOT,
                                  stdout=(work / "appserver.log").open("wb"), stderr=subprocess.STDOUT)
        procs.append(worker)
        sip_cps.wait_options(trunks_port)
        sip_cps.wait_options(users_port)
        sip_cps.wait_options(as_port)
        register_bob(users_port, uas_port)
        print(f"vPBX calls through the application server (1 worker) vs bare Kamailio relay; {args.children} "
              f"Kamailio workers per proxy, {args.seconds} s steps, <= {sip_cps.FAIL_LIMIT:.1%} failed, SQLite, "
              "loopback, 2 shared cores, sipp UAC/UAS on the same machine", flush=True)
        auth = f"alice;127.0.0.1;[authentication username=alice password={sip_cps.DEMO_SIP_PASSWORD['alice']}]"
        results: dict[str, tuple[int, bool, float, float]] = {}

        def as_search(name: str, callee: str) -> None:
            cpu_as: list[tuple[float, float]] = []

            def trial(rate: int) -> dict[str, float]:
                calls = rate * args.seconds
                as0 = sip_cps.cpu_seconds([worker.pid])
                r = sip_cps.run_load(work, users_port, "uac_auth_call.xml", f"{auth};{callee}", rate, calls, [],
                                     kam_users.pid, uas_port, extra_pids=[kam_trunks.pid])
                cpu_as.append((rate, sip_cps.cpu_seconds([worker.pid]) - as0))
                return {**r, "calls": calls}

            best, capped, runs = sip_cps.search(name, trial, args.start, args.max_rate, args.seconds, args.budget)
            r = runs.get(best)
            kam = r["cpu"] / r["ok"] * 1e6 if r and r["ok"] else float("nan")
            as_cpu = next((c for rate, c in cpu_as if rate == best), float("nan"))
            results[name] = (best, capped, kam, as_cpu / r["ok"] * 1e6 if r and r["ok"] else float("nan"))
            time.sleep(1.0)

        if args.only in (None, "internal"):
            as_search("internal", "102")
        if args.only in (None, "external"):
            as_search("external", CALLEE_EXTERNAL)
        for p in (worker, kam_users, kam_trunks):
            p.terminate()
            p.wait(10)

        bare_port = sip_cps.free_port()
        cfg = work / "bare.cfg"
        cfg.write_text(sip_cps.BARE_CFG.format(children=args.children, port=bare_port, mpath=render.module_path(),
                                               uas_port=uas_port))
        bare = subprocess.Popen([render.kamailio_binary() or "kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(work),
                                 "-m", "256", "-M", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(bare)
        sip_cps.wait_options(bare_port)

        def bare_trial(rate: int) -> dict[str, float]:
            calls = rate * args.seconds
            r = sip_cps.run_load(work, bare_port, "uac_plain_call.xml", "127.0.0.1", rate, calls, ["-s", "102"],
                                 bare.pid, uas_port)
            return {**r, "calls": calls}

        bare_best, bare_capped, _ = sip_cps.search("bare relay", bare_trial, args.start, args.max_rate, args.seconds,
                                                   args.budget)

        def fmt(best: int, capped: bool) -> str:
            return f"{'>=' if capped else ''}{best}"

        print("summary (highest rate tried with <= 0.5 % failed calls, same machine, same run):")
        for name, (best, capped, kam, as_cpu) in results.items():
            ratio = f"{best / bare_best:.2f}" if bare_best else "n/a"
            bound = " (bound: a side was capped)" if capped or bare_capped else ""
            print(f"  vPBX {name:8} via the app server: {fmt(best, capped):>6} calls/s, ratio to bare relay "
                  f"{ratio}{bound}; app server CPU {as_cpu:.0f} us/call, Kamailio CPU {kam:.0f} us/call")
        print(f"  bare Kamailio relay:              {fmt(bare_best, bare_capped):>6} calls/s")
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
        if os.environ.get("POLYVOX_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
