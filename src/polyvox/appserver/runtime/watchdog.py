"""The worker's watchdog: a worker is either answering SIP or gone, never alive but deaf.

A thread of its own checks, every ``interval`` seconds:

* that the threads the worker cannot do without are alive (sippy's event loop, the UDP receiver
  and sender): a dead one is fatal at once;
* that the asyncio loop and sippy's event loop each run a posted call, and that an OPTIONS sent
  over UDP to the worker's own port is answered 200 (receiver → sippy → sender, end to end): a
  check failing ``failures`` times in a row is fatal.

Fatal = logged at CRITICAL, then the process exits with :data:`EXIT_DEAF` without waiting for
anything (a stuck thread must not hold it), so that its supervisor (``polyvox up``, ``polyvox
appserver --workers N``) starts a new one; the calls it held are finalised from the call journal
(:mod:`polyvox.appserver.journal`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

log = logging.getLogger("polyvox.appserver.watchdog")

#: exit status of a worker stopped by its watchdog (EX_SOFTWARE)
EXIT_DEAF = 70

Check = tuple[str, Callable[[], bool]]


def options_probe(host: str, port: int, timeout: float) -> bool:
    """An OPTIONS from an ephemeral port of ``host`` to ``host:port`` gets its 200 in time."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    h = host.strip("[]")
    call_id = f"watchdog-{uuid.uuid4().hex}"
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((h, 0))
        lport = sock.getsockname()[1]
        via_host = f"[{h}]" if family == socket.AF_INET6 else h
        msg = (f"OPTIONS sip:{via_host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {via_host}:{lport};branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
               f"From: <sip:watchdog@{via_host}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:{via_host}:{port}>\r\n"
               f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        sock.settimeout(timeout)
        try:
            sock.sendto(msg.encode(), (h, port))
            while True:
                data = sock.recv(65535)
                if call_id.encode() in data and data.startswith(b"SIP/2.0 200"):
                    return True
        except OSError:  # timeout included
            return False


def _die(reason: str) -> None:
    log.critical("application server worker is deaf (%s): exiting with %d so that it is restarted",
                 reason, EXIT_DEAF)
    for h in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # exiting anyway
            h.flush()
    os._exit(EXIT_DEAF)


class Watchdog(threading.Thread):
    daemon = True

    def __init__(self, threads: Callable[[], list[threading.Thread]], checks: list[Check],
                 interval: float = 2.0, failures: int = 3,
                 on_fatal: Callable[[str], None] = _die) -> None:
        super().__init__(name="watchdog")
        self.threads = threads
        self.checks = checks
        self.interval = interval
        self.failures = max(1, failures)
        self.on_fatal = on_fatal
        self.missed: dict[str, int] = {}
        self._halt = threading.Event()

    def stop(self) -> None:
        """Graceful stop: the threads it watches may now end."""
        self._halt.set()

    def check_once(self) -> str | None:
        """One round of checks; the reason the worker is deaf, or None."""
        for t in self.threads():
            if not t.is_alive():
                return f"thread {t.name} died"
        for name, check in self.checks:
            try:
                ok = check()
            except Exception:
                log.exception("watchdog check %s failed", name)
                ok = False
            if ok:
                self.missed.pop(name, None)
                continue
            n = self.missed[name] = self.missed.get(name, 0) + 1
            log.warning("watchdog: %s failed (%d of %d)", name, n, self.failures)
            if n >= self.failures:
                return f"{name} failed {n} times in a row"
        return None

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            reason = self.check_once()
            if reason is not None and not self._halt.is_set():
                self.on_fatal(reason)
                return
