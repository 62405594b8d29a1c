"""The ``polyvox`` command."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from polyvox import config


def _secret(settings: config.Settings) -> str:
    env = os.environ.get("POLYVOX_JWT_SECRET")
    if env:
        return env
    f = settings.secret_file
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(secrets.token_hex(32))
        f.chmod(0o600)
    return f.read_text().strip()


def cmd_db_upgrade(settings: config.Settings, _args: argparse.Namespace) -> int:
    from polyvox.db.engine import upgrade

    upgrade(settings.database_url)
    print(f"database at head: {_safe_url(settings.database_url)}")
    return 0


def _prepare(settings: config.Settings, demo: bool, host: str | None = None,
             rtpengine: str | None = None) -> dict[str, Any]:
    from polyvox.api import seeding as seed
    from polyvox.db.engine import make_engine, upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            return seed.first_start(conn, demo=demo, host=host or settings.api_host,
                                    rtpengine=rtpengine or "udp:127.0.0.1:22222")
    finally:
        engine.dispose()


def cmd_api(settings: config.Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from polyvox.api.app import create_app
    from polyvox.db.engine import make_engine

    app = create_app(make_engine(settings.database_url), _secret(settings), ttl=settings.jwt_ttl)
    uvicorn.run(app, host=args.host or settings.api_host, port=args.port or settings.api_port,
                log_level="warning", access_log=False)
    return 0


class Supervisor:
    """Starts every role as a child process and restarts the ones that die."""

    def __init__(self) -> None:
        self.roles: dict[str, list[str]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}
        self.stopping = False

    def add(self, name: str, argv: list[str]) -> None:
        self.roles[name] = argv

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.roles[name])

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for name in self.roles:
            self.start(name)
        while not self.stopping:
            time.sleep(0.5)
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None and not self.stopping:
                    n = self.restarts.get(name, 0) + 1
                    self.restarts[name] = n
                    print(f"polyvox: role {name} exited with {proc.returncode}; restarting ({n})", flush=True)
                    time.sleep(min(5.0, 0.5 * n))
                    self.start(name)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        return 0

    def _stop(self, *_a: Any) -> None:
        self.stopping = True


def _busy_ports(checks: list[tuple[str, str, int, str]]) -> list[str]:
    """``(kind tcp|udp, host, port, what)`` that cannot be bound now, as messages."""
    import socket

    out = []
    for kind, host, port, what in checks:
        if port <= 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        try:
            if kind == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as e:
            out.append(f"{kind.upper()} {host}:{port} ({what}) is not available: {e.strerror}")
        finally:
            sock.close()
    return out


def _role_ports(settings: config.Settings, host: str, port: int, with_sip: bool) -> list[tuple[str, str, int, str]]:
    checks = [("tcp", host, port, "API, POLYVOX_API_PORT or --port")]
    if not with_sip:
        return checks
    from polyvox.sip import cli as sip_cli

    ps = sip_cli.proxy_settings(settings, host=host)
    ts = sip_cli.proxy_settings(settings, host=host, role="proxy-trunks")
    aps = sip_cli.appserver_settings(settings, host=host)
    rs = sip_cli.rtpengine_settings(settings, host=host)
    checks += [("udp", ps.host, ps.port, "proxy-users, POLYVOX_SIP_USERS_PORT"),
               ("tcp", ps.host, ps.port, "proxy-users, POLYVOX_SIP_USERS_PORT"),
               ("tcp", ps.host, ps.tls_port, "proxy-users TLS, POLYVOX_SIP_TLS_PORT"),
               ("tcp", ps.host, ps.ws_port, "proxy-users WS, POLYVOX_SIP_WS_PORT"),
               ("tcp", ps.host, ps.wss_port, "proxy-users WSS, POLYVOX_SIP_WSS_PORT"),
               ("udp", ts.host, ts.port, "proxy-trunks, POLYVOX_SIP_TRUNKS_PORT")]
    checks += [("udp", aps.host, aps.port + i, "application server, POLYVOX_AS_PORT")
               for i in range(max(1, aps.workers))]
    ng_host, _, ng_port = rs.ng_listen.rpartition(":")
    checks.append(("udp", ng_host or "127.0.0.1", int(ng_port), "rtpengine NG, POLYVOX_RTPENGINE_NG"))
    return checks


def cmd_up(settings: config.Settings, args: argparse.Namespace) -> int:
    host, port = args.host or settings.api_host, args.port or settings.api_port
    # a port held by another program would make its role restart forever: refuse to start instead
    busy = _busy_ports(_role_ports(settings, host, port, not args.no_sip))
    if busy:
        for line in busy:
            print(f"polyvox up: {line}", file=sys.stderr)
        print("polyvox up: stop the program holding it or move the role with the variable named", file=sys.stderr)
        return 1
    sip_host = os.environ.get("POLYVOX_SIP_HOST") or host
    ng = os.environ.get("POLYVOX_RTPENGINE_NG") or "127.0.0.1:22222"
    info = _prepare(settings, demo=not args.no_demo, host=sip_host, rtpengine=f"udp:{ng}")
    _secret(settings)
    env_db = settings.database_url
    os.environ["POLYVOX_DATABASE_URL"] = env_db
    os.environ["POLYVOX_HOME"] = str(settings.home)
    sup = Supervisor()
    sup.add("api", [sys.executable, "-m", "polyvox.cli", "api", "--host", host, "--port", str(port)])
    from polyvox.sip import cli as sip_cli

    sip_roles, sip_warnings = ([], []) if args.no_sip else sip_cli.roles(settings, host)
    for role in sip_roles:
        sup.add(role.name, role.argv)
    base = f"http://{host}:{port}"
    print("Polyvox standalone platform")
    print(f"  database:        {_safe_url(env_db)}")
    print(f"  API and portals: {base}/")
    for level in ("platform", "brand", "client", "user"):
        print(f"  {level:9} API:   {base}/api/{level}  (docs {base}/api/{level}/docs)")
    if info.get("demo"):
        print("  demo credentials:")
        for line in info["demo"]:
            print(f"    {line}")
    for role in sip_roles:
        print(f"  {role.info}")
    for warning in sip_warnings:
        print(f"  warning: {warning}")
    from polyvox import workers

    sup.add("worker", workers.argv())
    names = ", ".join(["api", *(r.name for r in sip_roles), "worker"])
    print("  worker:          billing (call records -> external calls, balances, notifications), rate imports")
    print(f"  roles: {names}")
    sys.stdout.flush()
    return sup.run()


def cmd_admin_create(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox.api import seeding as seed
    from polyvox.db.engine import make_engine

    password = args.password or getpass.getpass("password: ")
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        ident = seed.create_admin(conn, args.username, password, brand_id=args.brand, company_id=args.company,
                                  email=args.email)
    print(f"administrator {args.username} created (id {ident})")
    return 0


def cmd_admin_password(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox.api import seeding as seed
    from polyvox.db.engine import make_engine

    password = args.password or getpass.getpass("new password: ")
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        if not seed.reset_password(conn, args.username, password):
            print(f"no administrator named {args.username}", file=sys.stderr)
            return 1
    print(f"password of {args.username} changed")
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyvox", description="Polyvox IP telephony platform")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="standalone platform: migrate, load demo data, start and supervise every role")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--no-demo", action="store_true", help="do not load demo data on first start")
    up.add_argument("--no-sip", action="store_true", help="do not start the SIP proxy and the media relay")
    api = sub.add_parser("api", help="run the API role only")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    sub.add_parser("worker", help="run the worker role only (billing, balances, notifications, rate imports)")
    db = sub.add_parser("db", help="database")
    dbs = db.add_subparsers(dest="dbcmd", required=True)
    dbs.add_parser("upgrade", help="create or migrate the database to the latest schema")
    from polyvox.sip import cli as sip_cli

    sip_cli.add_parsers(sub)
    adm = sub.add_parser("admin", help="operators")
    adms = adm.add_subparsers(dest="admcmd", required=True)
    c = adms.add_parser("create", help="create an administrator (global operator unless --brand/--company)")
    c.add_argument("username")
    c.add_argument("--password")
    c.add_argument("--email")
    c.add_argument("--brand", type=int)
    c.add_argument("--company", type=int)
    p = adms.add_parser("password", help="reset an administrator's password")
    p.add_argument("username")
    p.add_argument("--password")
    args = parser.parse_args(argv)
    settings = config.load()
    if args.cmd == "up":
        return cmd_up(settings, args)
    if args.cmd == "api":
        return cmd_api(settings, args)
    if args.cmd == "db":
        return cmd_db_upgrade(settings, args)
    if args.cmd in ("sip", "media"):
        return sip_cli.run(settings, args)
    if args.cmd == "worker":
        from polyvox import workers

        return workers.main(settings)
    if args.cmd == "appserver":
        return sip_cli.run_appserver(settings, args)
    if args.cmd == "admin" and args.admcmd == "create":
        return cmd_admin_create(settings, args)
    if args.cmd == "admin" and args.admcmd == "password":
        return cmd_admin_password(settings, args)
    return 2


if __name__ == "__main__":
    _ = Path
    sys.exit(main())
