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


def _prepare(settings: config.Settings, demo: bool) -> dict[str, Any]:
    from polyvox.db import seed
    from polyvox.db.engine import make_engine, upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            return seed.first_start(conn, demo=demo, host=settings.api_host)
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


def cmd_up(settings: config.Settings, args: argparse.Namespace) -> int:
    info = _prepare(settings, demo=not args.no_demo)
    _secret(settings)
    host, port = args.host or settings.api_host, args.port or settings.api_port
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
    from polyvox.db import seed
    from polyvox.db.engine import make_engine

    password = args.password or getpass.getpass("password: ")
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        ident = seed.create_admin(conn, args.username, password, brand_id=args.brand, company_id=args.company,
                                  email=args.email)
    print(f"administrator {args.username} created (id {ident})")
    return 0


def cmd_admin_password(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox.db import seed
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
