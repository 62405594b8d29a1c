"""``polyvox sip ...`` and ``polyvox media ...`` commands, and the SIP and media roles of ``polyvox up``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from polyvox import config
from polyvox.media import rtpengine as rtpe
from polyvox.platform.proxy_settings import ProxySettings, from_env, trunks_from_env
from polyvox.sip import render

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
                   host: str | None = None, role: str = "proxy-users") -> ProxySettings:
    make = trunks_from_env if role == "proxy-trunks" else from_env
    s = make(settings.home, settings.database_url, host or settings.api_host)
    if args is not None:
        kw = {k: v for k, v in (("host", args.host), ("port", args.port), ("advertise", args.advertise),
                                ("children", args.children)) if v is not None}
        s = s.with_(**kw)
    return s


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
    return out, warnings
