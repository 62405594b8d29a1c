"""Settings of the application server workers, from environment variables.

Proxy addresses come from the proxies' own settings (``polyvox.platform.proxy_settings``): proxy-users at
``POLYVOX_SIP_HOST:POLYVOX_SIP_USERS_PORT``, proxy-trunks at ``POLYVOX_SIP_HOST:POLYVOX_SIP_TRUNKS_PORT``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from polyvox.platform import proxy_settings

DEFAULT_DIALPLAN = "polyvox.appserver.dialplan:make_dialplan"


@dataclass(frozen=True)
class AppServerSettings:
    database_url: str
    host: str = "127.0.0.1"  # listen address (UDP)
    port: int = 6060  # first worker's port; worker i listens on port + i
    workers: int = 1
    users: tuple[str, int] = ("127.0.0.1", 5060)  # proxy-users
    trunks: tuple[str, int] = ("127.0.0.1", 7060)  # proxy-trunks
    dialplan: str = DEFAULT_DIALPLAN  # "module:factory", factory(engine) -> plan.Dialplan
    dialplan_timeout: float = 10.0  # seconds a dialplan call may take before its call fails (500)
    watchdog_interval: float = 2.0  # seconds between the watchdog's checks (0: no watchdog)
    watchdog_failures: int = 3  # checks failed in a row before the worker exits (EXIT_DEAF)
    heartbeat: float = 5.0  # seconds between call journal heartbeats (end-time precision of lost calls)
    stale_after: float = 60.0  # journal rows without heartbeat for so long belong to a dead worker

    def with_(self, **kw: object) -> AppServerSettings:
        return replace(self, **kw)  # type: ignore[arg-type]


def from_env(database_url: str, host: str = "127.0.0.1", home: Path | None = None) -> AppServerSettings:
    env = os.environ.get
    users = proxy_settings.from_env(home or Path("."), database_url, host)
    trunks = proxy_settings.trunks_from_env(home or Path("."), database_url, host)
    return AppServerSettings(
        database_url=database_url,
        host=env("POLYVOX_AS_HOST", users.host),
        port=int(env("POLYVOX_AS_PORT", "6060")),
        workers=int(env("POLYVOX_AS_WORKERS", "1")),
        users=(users.host, users.port),
        trunks=(trunks.host, trunks.port),
        dialplan=env("POLYVOX_AS_DIALPLAN", DEFAULT_DIALPLAN),
        dialplan_timeout=float(env("POLYVOX_AS_DIALPLAN_TIMEOUT", "10")),
        watchdog_interval=float(env("POLYVOX_AS_WATCHDOG_INTERVAL", "2")),
        watchdog_failures=int(env("POLYVOX_AS_WATCHDOG_FAILURES", "3")),
        heartbeat=float(env("POLYVOX_AS_HEARTBEAT", "5")),
        stale_after=float(env("POLYVOX_AS_STALE_AFTER", "60")),
    )
