"""Settings of the SIP proxies, from environment variables with standalone defaults.

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
    # proxy-trunks only: proxy-users' address (trusted like an application server, "host:port"),
    # time to the first reply of a carrier server before failing over to the next one (ms)
    users_proxy: str = ""
    carrier_timeout_ms: int = 3000

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
        as_timeout_ms=int(env("POLYVOX_SIP_AS_TIMEOUT_MS", "2000")),
        as_down_seconds=int(env("POLYVOX_SIP_AS_DOWN_SECONDS", "30")),
    )


def trunks_from_env(home: Path, database_url: str, host: str = "127.0.0.1") -> ProxySettings:
    """proxy-trunks: same address as proxy-users, port 7060 by default (spec 3.2.1)."""
    env = os.environ.get
    users = from_env(home, database_url, host)
    return users.with_(name="proxy-trunks", port=int(env("POLYVOX_SIP_TRUNKS_PORT", "7060")),
                       users_proxy=f"{users.host}:{users.port}",
                       carrier_timeout_ms=int(env("POLYVOX_SIP_CARRIER_TIMEOUT_MS", "3000")))
