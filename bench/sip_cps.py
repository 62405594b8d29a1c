"""Calls per second through proxy-users, against a bare Kamailio relay measured in the same run.

Run: .venv/bin/python bench/sip_cps.py [--rate CPS] [--seconds S] [--children N]

Polyvox run: sipp UAC (alice, digest auth on every call: INVITE, 407, ACK, INVITE) ->
proxy-users (KEMI Python: domain/terminal lookups, auth, rtpengine offer/answer/delete,
X-Info headers, application-server choice) -> sipp UAS standing in for the application server.
Reference run: sipp UAC (no auth) -> a native-cfg Kamailio doing a stateful record-routed relay
to the same sipp UAS (no database, no media relay). Every call: 200 ms of talk, then BYE.

Prints, for each run, completed/failed calls and Kamailio CPU time per call (all Kamailio
processes, from /proc), then the ratio Polyvox / reference. Everything is on 127.0.0.1, every
process is bounded (-m, -timeout, outer timeouts) and stopped by PID. Not a test: no assertion.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, insert, update

from polyvox.db import seed
from polyvox.db.engine import make_engine, upgrade
from polyvox.db.model import ENTITY
from polyvox.media import rtpengine as rtpe
from polyvox.sip import render
from polyvox.sip.settings import ProxySettings

SCEN = Path(__file__).resolve().parent.parent / "tests" / "sip" / "scenarios"
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
             kam_pid: int, uas_port: int) -> dict[str, float]:
    limit = int(calls / rate) + 30
    uas = subprocess.Popen(["timeout", str(limit + 10), "sipp", "-sf", str(SCEN / "uas.xml"), "-i", "127.0.0.1",
                            "-p", str(uas_port), "-m", str(calls), "-nostdin", "-timeout", f"{limit}s",
                            "-mp", str(free_port())],
                           cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    (work / "uac.csv").write_text("SEQUENTIAL\n" + csv + "\n")
    pids = tree(kam_pid)
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
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--children", type=int, default=8)
    args = ap.parse_args()
    missing = [b for b in ("kamailio", "sipp", "rtpengine") if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 1
    calls = args.rate * args.seconds
    work = Path(tempfile.mkdtemp(prefix="polyvox-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
        upgrade(url)
        eng = make_engine(url)
        with eng.begin() as c:
            seed.first_start(c, demo=True)
        ng_port, uas_port = free_port(), free_port()
        base = random.randrange(20000, 28000, 2000)
        rs = rtpe.RtpengineSettings(ng_listen=f"127.0.0.1:{ng_port}", port_min=base, port_max=base + 1999,
                                    log_level=3, delete_delay=0)
        procs.append(subprocess.Popen(rtpe.argv(rs, rtpe.binary() or "rtpengine"), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        a, co = ENTITY["ApplicationServer"].table, ENTITY["Company"].table
        with eng.begin() as c:
            c.execute(update(ENTITY["Rtpengine"].table).values(url=f"udp:127.0.0.1:{ng_port}"))
            c.execute(delete(a))
            c.execute(insert(a).values(name="bench-uas", ip=f"127.0.0.1:{uas_port}"))
            c.execute(update(co).values(distributeMethod="static"))
        eng.dispose()

        port = free_port()
        ps = ProxySettings(home=work / "home", database_url=url, port=port, children=args.children, tcp=False,
                           shm_mb=1024, debug=1)
        r = render.render(ps)
        kam_log = (work / "proxy-users.log").open("wb")
        kam = subprocess.Popen(r.argv, stdout=kam_log, stderr=subprocess.STDOUT)
        procs.append(kam)
        wait_options(port)
        print(f"{calls} calls at {args.rate}/s, {args.children} Kamailio workers, 2 shared sipp processes, loopback")
        poly = run_load(work, port, "uac_auth_call.xml", "alice;127.0.0.1;[authentication username=alice "
                        "password=alice];102", args.rate, calls, [], kam.pid, uas_port)
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


if __name__ == "__main__":
    sys.exit(main())
