"""Settings of the SIP proxies, from environment variables with standalone defaults.

Read by the proxies, the trunks agent, the application server (the proxies' addresses) and the
control client (proxy-trunks' run directory), so it sits below the roles.

Every value can also be given on the command line (``polyvox sip proxy-users --help``); tests
build :class:`ProxySettings` directly with free loopback ports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ProxySettings:
    home: Path  # POLYVOX_HOME; the rendered files go to home/run/<name>
    database_url: str
    name: str = "proxy-users"
    host: str = "127.0.0.1"  # listen address (UDP and TCP)
    port: int = 5060
    advertise: str = ""  # public address written in Via/Record-Route when behind NAT ("" = host)
    tcp: bool = True
    children: int = 8  # workers block on rtpengine (NG) and database round trips: size for it
    tcp_children: int = 2
    shm_mb: int = 256
    pkg_mb: int = 16
    debug: int = 2
    # config_version check: 0 = once per initial request; N > 0 = at most once every N seconds
    version_check_interval: float = 0.0
    # seconds between two config syncs of the timer process (rtpengine table)
    sync_interval: int = 1
    # application servers: port when the row has none, time to the first reply before failing
    # over to the next one (ms), how long a timed-out server is skipped (s)
    as_default_port: int = 6060
    as_timeout_ms: int = 2000
    as_down_seconds: int = 30
    # tm defaults (ms)
    fr_timer: int = 5000
    fr_inv_timer: int = 60000
    # registrar
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    max_contacts: int = 10
    # rtpengine_manage() flags for calls from endpoints / towards endpoints
    rtpengine_flags: str = "replace-origin replace-session-connection ICE=remove RTP/AVP"
    auth_secret: str = ""
    # anti brute-force (spec 12.7): failed authentications of fromUser@fromDomain::ip before a ban,
    # ban duration (s), counter value after a ban
    ban_threshold: int = 100
    ban_seconds: int = 43200
    ban_restart: int = 80
    # anti-flood (spec 12.2, pike): more than flood_density counted requests of one IP within
    # flood_sampling seconds -> its requests are ignored for flood_ban_seconds
    flood_density: int = 100
    flood_sampling: int = 2
    flood_ban_seconds: int = 300
    # GeoIP (client IP filter, 12.3): IPv4 country file ("" = Debian's /usr/share/GeoIP/GeoIP.dat)
    # and "cidr=CC,..." for ranges the database does not know (private networks)
    geoip_db: str = ""
    geoip_local: str = ""
    # proxy-users transports besides UDP/TCP (0 = off; from_env turns them on): SIP over TLS,
    # WebSocket (WS, plain TCP) and secure WebSocket (WSS); certificate/key files ("" = the
    # self-signed pair generated in $POLYVOX_HOME/tls, see polyvox.sip.tls)
    tls_port: int = 0
    ws_port: int = 0
    wss_port: int = 0
    tls_cert: str = ""
    tls_key: str = ""
    # seconds between NAT keepalive OPTIONS to NATed UDP contacts (0 = off)
    natping_interval: int = 0
    # proxy-trunks only: proxy-users' address (trusted like an application server, "host:port"),
    # time to the first reply of a carrier server before failing over to the next one (ms)
    users_proxy: str = ""
    carrier_timeout_ms: int = 3000
    # dialog keepalives towards the application server side of a call (docs/sip.md §11.3): an
    # in-dialog OPTIONS every dialog_ka_interval s (0 = off; Kamailio's minimum is 30); after
    # dialog_ka_failed timeouts (tm retransmits each OPTIONS until fr_timer) or 481s in a row the
    # dialog module ends the call 10 s later with a BYE to both sides
    dialog_ka_interval: int = 30
    dialog_ka_failed: int = 1

    @property
    def rundir(self) -> Path:
        return self.home / "run" / self.name

    def with_(self, **kw: object) -> ProxySettings:
        return replace(self, **kw)  # type: ignore[arg-type]


def from_env(home: Path, database_url: str, host: str = "127.0.0.1") -> ProxySettings:
    env = os.environ.get
    return ProxySettings(
        home=home,
        database_url=database_url,
        host=env("POLYVOX_SIP_HOST", host),
        port=int(env("POLYVOX_SIP_USERS_PORT", "5060")),
        advertise=env("POLYVOX_SIP_ADVERTISE", ""),
        children=int(env("POLYVOX_SIP_CHILDREN", "8")),
        shm_mb=int(env("POLYVOX_SIP_SHM_MB", "256")),
        debug=int(env("POLYVOX_SIP_DEBUG", "2")),
        version_check_interval=float(env("POLYVOX_SIP_VERSION_CHECK_INTERVAL", "0")),
        as_default_port=int(env("POLYVOX_AS_PORT", "6060")),  # app servers rows without a port
        as_timeout_ms=int(env("POLYVOX_SIP_AS_TIMEOUT_MS", "2000")),
        as_down_seconds=int(env("POLYVOX_SIP_AS_DOWN_SECONDS", "30")),
        ban_threshold=int(env("POLYVOX_SIP_BAN_THRESHOLD", "100")),
        ban_seconds=int(env("POLYVOX_SIP_BAN_SECONDS", "43200")),
        ban_restart=int(env("POLYVOX_SIP_BAN_RESTART", "80")),
        flood_density=int(env("POLYVOX_SIP_FLOOD_DENSITY", "100")),
        flood_ban_seconds=int(env("POLYVOX_SIP_FLOOD_BAN_SECONDS", "300")),
        geoip_db=env("POLYVOX_GEOIP_DB", ""),
        geoip_local=env("POLYVOX_GEOIP_LOCAL", ""),
        tls_port=int(env("POLYVOX_SIP_TLS_PORT", "5061")),
        ws_port=int(env("POLYVOX_SIP_WS_PORT", "10080")),
        wss_port=int(env("POLYVOX_SIP_WSS_PORT", "10081")),
        tls_cert=env("POLYVOX_SIP_TLS_CERT", ""),
        tls_key=env("POLYVOX_SIP_TLS_KEY", ""),
        natping_interval=int(env("POLYVOX_SIP_NATPING_INTERVAL", "30")),
        dialog_ka_interval=int(env("POLYVOX_SIP_DIALOG_KA_INTERVAL", "30")),
        dialog_ka_failed=int(env("POLYVOX_SIP_DIALOG_KA_FAILED", "1")),
    )


def trunks_from_env(home: Path, database_url: str, host: str = "127.0.0.1") -> ProxySettings:
    """proxy-trunks: same address as proxy-users, port 7060 by default (spec 3.2.1)."""
    env = os.environ.get
    users = from_env(home, database_url, host)
    return users.with_(name="proxy-trunks", port=int(env("POLYVOX_SIP_TRUNKS_PORT", "7060")),
                       users_proxy=f"{users.host}:{users.port}", tls_port=0, ws_port=0, wss_port=0,
                       natping_interval=0,
                       carrier_timeout_ms=int(env("POLYVOX_SIP_CARRIER_TIMEOUT_MS", "3000")))
