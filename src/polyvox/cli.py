"""The ``polyvox`` command."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyvox import config

if TYPE_CHECKING:
    from polyvox.appserver.runtime.settings import AppServerSettings
    from polyvox.sip.cli import Role


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


def _add_appserver_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    aps = sub.add_parser("appserver", help="application server workers (sippy + asyncio), UDP 6060 and up")
    aps.add_argument("--host", help="listen address (POLYVOX_AS_HOST, default POLYVOX_SIP_HOST)")
    aps.add_argument("--port", type=int, help="first worker's UDP port (POLYVOX_AS_PORT, default 6060)")
    aps.add_argument("--workers", type=int, help="worker processes on consecutive ports (POLYVOX_AS_WORKERS, 1)")
    aps.add_argument("--dialplan", help="call logic factory module:function (POLYVOX_AS_DIALPLAN)")


def appserver_settings(settings: config.Settings, args: argparse.Namespace | None = None,
                       host: str | None = None) -> AppServerSettings:
    from polyvox.appserver.runtime.settings import from_env

    # the proxies' addresses follow the same host (POLYVOX_SIP_HOST, else --host, else the API host)
    host = host or (args.host if args is not None else None) or settings.api_host
    s = from_env(settings.database_url, host, settings.home)
    if args is not None:
        kw = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers),
                                ("dialplan", args.dialplan)) if v is not None}
        s = s.with_(**kw)
    return s


def cmd_appserver(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox.appserver.runtime.worker import run as run_workers

    return run_workers(appserver_settings(settings, args))


def appserver_roles(settings: config.Settings, host: str) -> tuple[list[Role], list[str]]:
    """One ``polyvox up`` role per application server worker (each on its own port), or a warning."""
    import importlib.util

    from polyvox.sip.cli import Role

    if importlib.util.find_spec("sippy") is None:  # not imported here: sippy binds to its importing thread
        return [], ["sippy not installed (pip install sippy==2.5.0): no application server"]
    out: list[Role] = []
    py = [sys.executable, "-m", "polyvox.cli"]
    aps = appserver_settings(settings, host=host)
    for i in range(max(1, aps.workers)):
        port = aps.port + i
        out.append(Role(f"appserver-{port}", [*py, "appserver", "--host", aps.host, "--port", str(port),
                                              "--workers", "1"],
                        f"app server:      sip:{aps.host}:{port} (UDP), worker {i + 1}/{max(1, aps.workers)}",
                        (("udp", aps.host, port, "application server, POLYVOX_AS_PORT"),)))
    return out, []


def _roles(settings: config.Settings, host: str, port: int, with_sip: bool) -> tuple[list[Any], list[str]]:
    """Every role of ``polyvox up`` (``polyvox.sip.cli.Role``) and warnings for the missing ones."""
    from polyvox import workers
    from polyvox.sip import cli as sip_cli

    api = sip_cli.Role("api", [sys.executable, "-m", "polyvox.cli", "api", "--host", host, "--port", str(port)],
                       "", (("tcp", host, port, "API, POLYVOX_API_PORT or --port"),))
    sip_roles: list[Any] = []
    warnings: list[str] = []
    if with_sip:
        sip_roles, warnings = sip_cli.roles(settings, host)
        as_roles, as_warnings = appserver_roles(settings, host)
        sip_roles, warnings = [*sip_roles, *as_roles], [*warnings, *as_warnings]
    worker = sip_cli.Role("worker", workers.argv(),
                          "worker:          billing (call records -> external calls, balances, notifications), "
                          "rate imports")
    return [api, *sip_roles, worker], warnings


def cmd_up(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox import supervisor

    host, port = args.host or settings.api_host, args.port or settings.api_port
    state = supervisor.read_state(settings.home)
    if state is not None and supervisor.supervisor_running(state):
        print(f"polyvox up: already running on {settings.home} (pid {state['pid']}); "
              "see polyvox status", file=sys.stderr)
        return 1
    left = supervisor.stop_leftovers(settings.home)
    if left:
        print(f"polyvox up: stopped {len(left)} processes left running by a previous polyvox up that did not "
              f"stop cleanly (pids {', '.join(map(str, left[:8]))}{', ...' if len(left) > 8 else ''})", file=sys.stderr)
    roles, sip_warnings = _roles(settings, host, port, not args.no_sip)
    # a port held by another program would make its role restart forever: refuse to start instead
    busy = supervisor.busy_ports(p for role in roles for p in role.ports)
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
    sup = supervisor.Supervisor(settings.home)
    for role in roles:
        sup.add(role.name, role.argv, role.ports)
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
    for role in roles:
        if role.info:
            print(f"  {role.info}")
    for warning in sip_warnings:
        print(f"  warning: {warning}")
    print(f"  logs:            {supervisor.log_dir(settings.home)}/<role>.log  (polyvox logs ROLE [-f])")
    print("  state:           polyvox status")
    print(f"  roles: {', '.join(role.name for role in roles)}")
    sys.stdout.flush()
    return sup.run()


def _status(settings: config.Settings) -> dict[str, Any]:
    """What ``polyvox status`` shows, as data (``--json``)."""
    from polyvox import supervisor

    state = supervisor.read_state(settings.home)
    out: dict[str, Any] = {"home": str(settings.home), "running": False, "roles": {}}
    if state is None:
        return out
    out["running"] = supervisor.supervisor_running(state)
    out.update(pid=state.get("pid"), started=state.get("started"), updated=state.get("updated"))
    for name, r in state.get("roles", {}).items():
        ports = [{"proto": kind, "host": h, "port": p, "what": what,
                  "listening": out["running"] and not supervisor.port_free(kind, h, p)}
                 for kind, h, p, what in r.get("ports", [])]
        pid = r.get("pid")
        up = bool(out["running"] and r.get("state") == "running" and pid and supervisor.pid_alive(int(pid)))
        shown = r.get("state")
        if not out["running"] and pid and supervisor.pid_alive(int(pid)):
            shown = "orphaned"  # polyvox up died without stopping it: the next polyvox up stops it
        elif not out["running"]:
            shown = "stopped"
        out["roles"][name] = {"pid": pid, "up": up, "state": shown, "since": r.get("since"),
                              "restarts": r.get("restarts", 0), "last_exit": r.get("last_exit", ""),
                              "last_exit_at": r.get("last_exit_at", ""), "ports": ports, "log": r.get("log"),
                              "errors": supervisor.last_errors(Path(r["log"]), 3) if r.get("log") else []}
    out["registrations"] = _registrations(settings)
    out["active_calls"] = _active_calls(settings, state) if out["running"] else {}
    return out


def _registrations(settings: config.Settings) -> dict[str, Any]:
    """Unexpired contacts in proxy-users' location table (what the proxies route to)."""
    import datetime as dt

    from sqlalchemy import func, select

    from polyvox.db.engine import make_engine
    from polyvox.db.location import location

    try:
        engine = make_engine(settings.database_url)
        try:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            with engine.connect() as conn:
                q = select(func.count(), func.count(func.distinct(location.c.username))).where(
                    location.c.expires > now)
                contacts, aors = conn.execute(q).one()
        finally:
            engine.dispose()
    except Exception as e:  # no database yet, or unreachable: status still shows the roles
        return {"error": str(e).splitlines()[0]}
    return {"contacts": int(contacts), "users": int(aors)}


def _active_calls(settings: config.Settings, state: dict[str, Any]) -> dict[str, Any]:
    """Dialogs each proxy tracks now (Kamailio RPC ``dlg.stats_active`` over its FIFO)."""
    from polyvox.platform import control

    out: dict[str, Any] = {}
    for name in ("proxy-users", "proxy-trunks"):
        if name not in state.get("roles", {}):
            continue
        rundir = settings.home / "run" / name
        fifo = rundir / "kamailio_rpc.fifo"
        try:
            cfg = (rundir / "kamailio.cfg").read_text()
        except OSError:
            cfg = ""
        if "fifo_reply_dir" not in cfg:
            # its replies would go to /tmp, where control.rpc does not wait for them
            out[name] = "unavailable (no fifo_reply_dir in its configuration)"
            continue
        try:
            stats = control.rpc(f"fifo:{fifo}", "dlg.stats_active", timeout=2.0)
            out[name] = int(stats.get("all", 0)) if isinstance(stats, dict) else stats
        except Exception as e:
            out[name] = f"unavailable ({e})"
    return out


def cmd_status(settings: config.Settings, args: argparse.Namespace) -> int:
    import json

    st = _status(settings)
    if args.json:
        print(json.dumps(st, indent=2))
        return 0 if st["running"] else 3
    if "pid" not in st:
        print(f"polyvox up has not run on {st['home']} (no state file)")
        return 3
    if st["running"]:
        print(f"polyvox up: running, pid {st['pid']} since {st['started']}, home {st['home']}")
    else:
        print(f"polyvox up: NOT running (last state {st['updated']}, pid {st['pid']}), home {st['home']}")
    print(f"  {'role':16} {'state':13} {'pid':>7} {'restarts':>8}  ports")
    for name, r in st["roles"].items():
        state = "up" if r["up"] else (r["state"] or "-")
        ports = ", ".join(f"{p['proto'].upper()} {p['host']}:{p['port']}"
                          + ("" if p["listening"] or not st["running"] else " (not listening)") for p in r["ports"])
        print(f"  {name:16} {state:13} {r['pid'] or '-':>7} {r['restarts']:>8}  {ports}")
        if r["last_exit"]:
            print(f"  {'':16} last exit: {r['last_exit']} at {r['last_exit_at']}")
    reg = st["registrations"]
    print("registrations: " + (f"{reg['contacts']} contacts of {reg['users']} terminals/accounts"
                               if "error" not in reg else f"unavailable ({reg['error']})"))
    if st["active_calls"]:
        print("active calls (proxy dialogs): "
              + ", ".join(f"{name} {n}" for name, n in st["active_calls"].items()))
    errors = [(name, line) for name, r in st["roles"].items() for line in r["errors"]]
    if errors:
        print("last errors (polyvox logs ROLE):")
        for name, line in errors:
            print(f"  {name}: {line[:220]}")
    return 0 if st["running"] else 3


def cmd_logs(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox import supervisor

    folder = supervisor.log_dir(settings.home)
    names = sorted(p.name[:-4] for p in folder.glob("*.log")) if folder.is_dir() else []
    match = [n for n in names if n == args.role] or [n for n in names if n.startswith(args.role)]
    if len(match) != 1:
        known = ", ".join(names) or "none yet"
        what = "several logs match" if match else "no log named"
        print(f"polyvox logs: {what} {args.role!r} in {folder} (roles: {known})", file=sys.stderr)
        return 2
    path = folder / f"{match[0]}.log"
    for line in supervisor.tail_lines(path, args.lines):
        print(line)
    sys.stdout.flush()
    if args.follow:
        stop = {"now": False}

        def _stop(*_a: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        supervisor.follow(path, lambda line: print(line, flush=True), lambda: stop["now"])
    return 0


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
    st = sub.add_parser("status", help="the roles of the running polyvox up: PIDs, restarts, ports, "
                                       "registrations, active calls, last errors")
    st.add_argument("--json", action="store_true", help="machine-readable")
    lg = sub.add_parser("logs", help="show (and follow) the log of a role of polyvox up")
    lg.add_argument("role", help="api, proxy-users, proxy-trunks, trunks-agent, appserver-PORT, rtpengine, "
                                 "worker, supervisor (a unique prefix is enough)")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    lg.add_argument("-n", "--lines", type=int, default=50, help="lines to show first (default 50)")
    db = sub.add_parser("db", help="database")
    dbs = db.add_subparsers(dest="dbcmd", required=True)
    dbs.add_parser("upgrade", help="create or migrate the database to the latest schema")
    from polyvox.sip import cli as sip_cli

    sip_cli.add_parsers(sub)
    _add_appserver_parser(sub)
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
    if args.cmd == "status":
        return cmd_status(settings, args)
    if args.cmd == "logs":
        return cmd_logs(settings, args)
    if args.cmd == "db":
        return cmd_db_upgrade(settings, args)
    if args.cmd in ("sip", "media"):
        return sip_cli.run(settings, args)
    if args.cmd == "worker":
        from polyvox import workers

        return workers.main(settings)
    if args.cmd == "appserver":
        return cmd_appserver(settings, args)
    if args.cmd == "admin" and args.admcmd == "create":
        return cmd_admin_create(settings, args)
    if args.cmd == "admin" and args.admcmd == "password":
        return cmd_admin_password(settings, args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
