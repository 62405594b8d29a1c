"""``polyvox sip ...`` and ``polyvox media ...`` commands, and the SIP roles of ``polyvox up``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyvox import config
from polyvox.media import rtpengine as rtpe
from polyvox.sip import render
from polyvox.sip import settings as sip_settings

if TYPE_CHECKING:
    from polyvox.appserver.runtime.settings import AppServerSettings


# a port a role listens on: (tcp|udp, host, port, "role, the variable that moves it")
Port = tuple[str, str, int, str]


@dataclass(frozen=True)
class Role:
    name: str
    argv: list[str]
    info: str
    ports: tuple[Port, ...] = ()


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sip = sub.add_parser("sip", help="SIP proxies (Kamailio with the Python KEMI routing script)")
    sips = sip.add_subparsers(dest="sipcmd", required=True)
    for name, hlp in (("proxy-users", "run proxy-users in the foreground (renders its config, then execs kamailio)"),
                      ("proxy-trunks", "run proxy-trunks in the foreground (renders its config, then execs kamailio)"),
                      ("render", "only render proxy-users' run directory and print the kamailio command")):
        p = sips.add_parser(name, help=hlp)
        p.add_argument("--host", help="listen address (POLYVOX_SIP_HOST, default the API host)")
        p.add_argument("--port", type=int, help="UDP/TCP port (POLYVOX_SIP_USERS_PORT, default 5060)")
        p.add_argument("--advertise", help="public address behind NAT (POLYVOX_SIP_ADVERTISE)")
        p.add_argument("--children", type=int, help="SIP worker processes (POLYVOX_SIP_CHILDREN, default 4)")
    aps = sub.add_parser("appserver", help="application server workers (sippy + asyncio), UDP 6060 and up")
    aps.add_argument("--host", help="listen address (POLYVOX_AS_HOST, default POLYVOX_SIP_HOST)")
    aps.add_argument("--port", type=int, help="first worker's UDP port (POLYVOX_AS_PORT, default 6060)")
    aps.add_argument("--workers", type=int, help="worker processes on consecutive ports (POLYVOX_AS_WORKERS, 1)")
    aps.add_argument("--dialplan", help="call logic factory module:function (POLYVOX_AS_DIALPLAN)")
    media = sub.add_parser("media", help="media relay (rtpengine)")
    medias = media.add_subparsers(dest="mediacmd", required=True)
    r = medias.add_parser("rtpengine", help="run rtpengine in the foreground (userspace, no kernel module)")
    r.add_argument("--interface", help="RTP address written in SDP (POLYVOX_RTP_INTERFACE, default the API host)")
    r.add_argument("--ng", help="NG control socket HOST:PORT (POLYVOX_RTPENGINE_NG, default 127.0.0.1:22222)")
    r.add_argument("--port-min", type=int)
    r.add_argument("--port-max", type=int)
    ng = medias.add_parser("ng", help="send an NG command to rtpengine: ping, list, statistics, query CALL-ID")
    ng.add_argument("command", choices=("ping", "list", "statistics", "query", "delete"))
    ng.add_argument("call_id", nargs="?")
    ng.add_argument("--url", default=None, help="NG url (default udp:POLYVOX_RTPENGINE_NG)")


def proxy_settings(settings: config.Settings, args: argparse.Namespace | None = None,
                   host: str | None = None, role: str = "proxy-users") -> sip_settings.ProxySettings:
    make = sip_settings.trunks_from_env if role == "proxy-trunks" else sip_settings.from_env
    s = make(settings.home, settings.database_url, host or settings.api_host)
    if args is not None:
        kw = {k: v for k, v in (("host", args.host), ("port", args.port), ("advertise", args.advertise),
                                ("children", args.children)) if v is not None}
        s = s.with_(**kw)
    return s


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


def run_appserver(settings: config.Settings, args: argparse.Namespace) -> int:
    from polyvox.appserver.runtime.worker import run as run_workers

    return run_workers(appserver_settings(settings, args))


def rtpengine_settings(settings: config.Settings, args: argparse.Namespace | None = None,
                       host: str | None = None) -> rtpe.RtpengineSettings:
    s = rtpe.RtpengineSettings.from_env(host or settings.api_host)
    if args is not None:
        from dataclasses import replace

        kw = {k: v for k, v in (("interface", args.interface), ("ng_listen", args.ng), ("port_min", args.port_min),
                                ("port_max", args.port_max)) if v is not None}
        s = replace(s, **kw)
    return s


def run(settings: config.Settings, args: argparse.Namespace) -> int:
    if args.cmd == "sip":
        ps = proxy_settings(settings, args, role=args.sipcmd)
        if not render.kamailio_binary():
            print("kamailio not found: apt-get install kamailio kamailio-python3-modules kamailio-extra-modules",
                  file=sys.stderr)
            return 1
        r = render.render(ps)
        if args.sipcmd == "render":
            print(" ".join(r.argv))
            return 0
        sys.stdout.flush()
        os.execv(r.argv[0], r.argv)
    if args.cmd == "media" and args.mediacmd == "rtpengine":
        exe = rtpe.binary()
        if not exe:
            print("rtpengine not found: apt-get install rtpengine-daemon", file=sys.stderr)
            return 1
        argv = rtpe.argv(rtpengine_settings(settings, args), exe)
        sys.stdout.flush()
        os.execv(argv[0], argv)
    if args.cmd == "media" and args.mediacmd == "ng":
        from polyvox.media.ng import NGClient

        url = args.url or "udp:" + os.environ.get("POLYVOX_RTPENGINE_NG", "127.0.0.1:22222")
        with NGClient(url) as ng:
            if args.command in ("query", "delete"):
                if not args.call_id:
                    print(f"{args.command} needs a CALL-ID", file=sys.stderr)
                    return 2
                out = ng.request(args.command, call_id=args.call_id)
            else:
                out = ng.request(args.command)
        print(json.dumps(out, indent=2, default=repr))
        return 0
    return 2


def roles(settings: config.Settings, host: str) -> tuple[list[Role], list[str]]:
    """The SIP roles ``polyvox up`` supervises, and warnings for those that cannot run here."""
    out: list[Role] = []
    warnings: list[str] = []
    py = [sys.executable, "-m", "polyvox.cli"]
    if rtpe.binary():
        rs = rtpengine_settings(settings, host=host)
        ng_host, _, ng_port = rs.ng_listen.rpartition(":")
        out.append(Role("rtpengine", [*py, "media", "rtpengine", "--interface", rs.interface],
                        f"media relay:     rtpengine, RTP on {rs.interface} ports {rs.port_min}-{rs.port_max}, "
                        f"NG on {rs.ng_listen}",
                        (("udp", ng_host or "127.0.0.1", int(ng_port), "rtpengine NG, POLYVOX_RTPENGINE_NG"),)))
    else:
        warnings.append("rtpengine not installed (apt-get install rtpengine-daemon): no media relay")
    if render.kamailio_binary():
        ps = proxy_settings(settings, host=host)
        extra = ", ".join(f"{name} {p}" for name, p in (("TLS", ps.tls_port), ("WS", ps.ws_port),
                                                          ("WSS", ps.wss_port)) if p)
        users_ports = (("udp", ps.host, ps.port, "proxy-users, POLYVOX_SIP_USERS_PORT"),
                       ("tcp", ps.host, ps.port, "proxy-users, POLYVOX_SIP_USERS_PORT"),
                       ("tcp", ps.host, ps.tls_port, "proxy-users TLS, POLYVOX_SIP_TLS_PORT"),
                       ("tcp", ps.host, ps.ws_port, "proxy-users WS, POLYVOX_SIP_WS_PORT"),
                       ("tcp", ps.host, ps.wss_port, "proxy-users WSS, POLYVOX_SIP_WSS_PORT"))
        out.append(Role("proxy-users", [*py, "sip", "proxy-users", "--host", ps.host],
                        f"proxy-users:     sip:{ps.host}:{ps.port} (UDP/TCP{', ' + extra if extra else ''}), "
                        f"run dir {ps.rundir}", tuple(p for p in users_ports if p[2] > 0)))
        ts = proxy_settings(settings, host=host, role="proxy-trunks")
        out.append(Role("proxy-trunks", [*py, "sip", "proxy-trunks", "--host", ts.host],
                        f"proxy-trunks:    sip:{ts.host}:{ts.port} (UDP/TCP), run dir {ts.rundir}",
                        (("udp", ts.host, ts.port, "proxy-trunks, POLYVOX_SIP_TRUNKS_PORT"),
                         ("tcp", ts.host, ts.port, "proxy-trunks, POLYVOX_SIP_TRUNKS_PORT"))))
        out.append(Role("trunks-agent", [sys.executable, "-m", "polyvox.sip.agent", "--host", ts.host],
                        f"trunks agent:    OPTIONS pings to carrier servers, DDI provider registrations "
                        f"(contact {ts.host}:{ts.port})"))
    else:
        warnings.append("kamailio not installed (apt-get install kamailio kamailio-python3-modules "
                        "kamailio-extra-modules): no SIP proxy")
    import importlib.util

    if importlib.util.find_spec("sippy") is not None:  # not imported here: sippy binds to its importing thread
        aps = appserver_settings(settings, host=host)
        for i in range(max(1, aps.workers)):
            port = aps.port + i
            out.append(Role(f"appserver-{port}", [*py, "appserver", "--host", aps.host, "--port", str(port),
                                                  "--workers", "1"],
                            f"app server:      sip:{aps.host}:{port} (UDP), worker {i + 1}/{max(1, aps.workers)}",
                            (("udp", aps.host, port, "application server, POLYVOX_AS_PORT"),)))
    else:
        warnings.append("sippy not installed (pip install sippy==2.5.0): no application server")
    return out, warnings
