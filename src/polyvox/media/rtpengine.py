"""The media relay role: rtpengine (Debian package) in userspace mode, configured by arguments."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RtpengineSettings:
    """Everything rtpengine needs; no config file (``--config-file=none``)."""

    interface: str = "127.0.0.1"  # RTP address written into SDP ("[NAME/]IP[!ADVERTISED]")
    ng_listen: str = "127.0.0.1:22222"  # NG control socket, matches rtpengines.url udp:HOST:PORT
    port_min: int = 30000
    port_max: int = 40000
    log_level: int = 5
    timeout: int = 60  # seconds without RTP before a call is torn down
    offer_timeout: int = 3600
    threads: int = 0  # 0: rtpengine's default (one per core)
    delete_delay: int = 30  # seconds a deleted call is kept (rtpengine's default)
    extra: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, host: str = "127.0.0.1") -> RtpengineSettings:
        env = os.environ.get
        return cls(
            interface=env("POLYVOX_RTP_INTERFACE", host),
            ng_listen=env("POLYVOX_RTPENGINE_NG", "127.0.0.1:22222"),
            port_min=int(env("POLYVOX_RTP_PORT_MIN", "30000")),
            port_max=int(env("POLYVOX_RTP_PORT_MAX", "40000")),
            log_level=int(env("POLYVOX_RTPENGINE_LOG_LEVEL", "5")),
        )


def binary() -> str | None:
    return shutil.which("rtpengine") or (os.path.exists("/usr/bin/rtpengine") and "/usr/bin/rtpengine") or None


def argv(s: RtpengineSettings, exe: str = "rtpengine") -> list[str]:
    """Foreground, log to stderr, no kernel forwarding table (pure userspace relay)."""
    args = [
        exe, "--config-file=none", "--foreground", "--log-stderr", "--no-log-timestamps",
        f"--log-level={s.log_level}", "--table=-1", f"--interface={s.interface}",
        f"--listen-ng={s.ng_listen}", f"--port-min={s.port_min}", f"--port-max={s.port_max}",
        f"--timeout={s.timeout}", f"--offer-timeout={s.offer_timeout}", f"--delete-delay={s.delete_delay}",
    ]
    if s.threads:
        args += [f"--num-threads={s.threads}", f"--media-num-threads={s.threads}"]
    return [*args, *s.extra]
