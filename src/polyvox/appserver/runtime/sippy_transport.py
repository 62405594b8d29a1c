"""sippy's UDP transport and transaction manager, hardened (subclasses, no fork).

**Import this module from the sippy thread only**: it imports sippy at module level, and sippy's
``ED2`` singleton binds to the thread that first imports it (appserver-findings §1).

What changes against sippy 2.5:

* :class:`GuardedUdpServer` reads datagrams whole (65,535-byte buffer; sippy reads 8,192 and cuts
  longer ones) and sends through a sender thread that validates each address (port 1–65535, a
  resolvable host) and survives any exception — sippy's sender dies on ``OverflowError`` for
  ``port > 65535`` and, with one sender, the worker goes deaf while staying alive. One receiver
  and one sender thread: more reorder the messages of a transaction.
* :class:`GuardedTransactionManager` passes every datagram through
  :func:`~polyvox.appserver.runtime.sipguard.screen` first (non-proxy sources, malformed
  requests: stateless 403/400 or silence) and catches what sippy still raises, answering
  ``500`` when a request's transaction was left without an answer.
* sippy's own exception dumps (``dump_exception``, written to stdout) go to Python logging.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Collection
from errno import EAGAIN, EBADF, ECONNRESET, EINTR, ENOBUFS, ENOTCONN, ESHUTDOWN, EWOULDBLOCK
from typing import Any

import sippy.Core.Exceptions as sippy_exceptions
from sippy.Core.EventDispatcher import ED2
from sippy.Network_server import Remote_address
from sippy.SipTransactionManager import RINGING, TRYING, SipTransactionManager
from sippy.Time.MonoTime import MonoTime
from sippy.Udp_server import Udp_server, Udp_server_opts

from polyvox.appserver.runtime.sipguard import MAX_DATAGRAM, screen

log = logging.getLogger("polyvox.appserver.sip")

RECV_BUFFER = 65535


class _LogFile:
    """File-like target of sippy's ``dump_exception``: one ERROR record per dump."""

    def __init__(self) -> None:
        self._buf: list[str] = []

    def write(self, s: str) -> None:
        self._buf.append(s)

    def flush(self) -> None:
        text, self._buf = "".join(self._buf), []
        if text.strip():
            log.error("sippy: %s", text.rstrip())


def route_sippy_dumps() -> None:
    """sippy's ``dump_exception(msg, f=sys.stdout)`` default target → Python logging (every sippy
    module holds the same function object, so its defaults are changed once here)."""
    fn = sippy_exceptions.dump_exception
    defaults = fn.__defaults__ or (None, None)
    fn.__defaults__ = (_LogFile(), *defaults[1:])


class Throttle:
    """At most ``burst`` log lines per ``period`` seconds for one kind of event (a flood of bad
    datagrams must not flood the log), then one summary line per period."""

    def __init__(self, burst: int = 20, period: float = 60.0) -> None:
        self.burst, self.period = burst, period
        self._start = time.monotonic()
        self._n = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._start >= self.period:
                if self._n > self.burst:
                    log.warning("%d more datagrams refused in the last %.0f s", self._n - self.burst, self.period)
                self._start, self._n = now, 0
            self._n += 1
            return self._n <= self.burst


def checked_address(address: Any) -> tuple[str, int] | None:
    """``(host, port)`` sippy may send to (port 1–65535; sippy's ``MyPort`` is an int), else None."""
    if not isinstance(address, tuple) or len(address) != 2 or not isinstance(address[0], str) or not address[0]:
        return None
    port = address[1]
    if isinstance(port, bool) or not (isinstance(port, int) or hasattr(port, "__int__")):
        return None
    try:
        port = int(port)
    except (TypeError, ValueError, OverflowError):
        return None
    return (address[0], port) if 0 < port <= 65535 else None


class _Sender(threading.Thread):
    daemon = True

    def __init__(self, userv: GuardedUdpServer) -> None:
        super().__init__(name="sip-send")
        self.userv = userv
        self.start()

    def run(self) -> None:
        q = self.userv.sendqueue
        while True:
            item = q.get()
            if item is None:
                q.put(None)  # shutdown: let any other reader see it too
                return
            try:
                self.userv.send_now(*item)
            except Exception:  # one bad datagram never stops the sender
                log.exception("SIP send to %r failed", item[1] if len(item) > 1 else None)


class _Receiver(threading.Thread):
    daemon = True

    def __init__(self, userv: GuardedUdpServer) -> None:
        super().__init__(name="sip-recv")
        self.userv = userv
        self.start()

    def run(self) -> None:
        userv = self.userv
        empty = 100
        while True:
            try:
                data, address = userv.skt.recvfrom(RECV_BUFFER)
            except OSError as e:
                if e.errno in (ECONNRESET, ENOTCONN, ESHUTDOWN, EBADF):
                    return
                if e.errno != EINTR:
                    log.exception("SIP receive failed")
                    time.sleep(0.01)
                continue
            except Exception:
                log.exception("SIP receive failed")
                time.sleep(0.01)
                continue
            if not data and address is None:  # the socket was shut down under us
                empty -= 1
                if empty == 0:
                    return
                continue
            empty = 100
            rtime = MonoTime()
            if userv.uopts.family == socket.AF_INET6:
                address = (f"[{address[0]}]", address[1])
            ED2.callFromThread(userv.handle_read, data, Remote_address(address, userv.transport), rtime)


class GuardedUdpOpts(Udp_server_opts):  # type: ignore[misc]
    nworkers = 0  # Udp_server starts no threads of its own: GuardedUdpServer starts ours


class GuardedUdpServer(Udp_server):  # type: ignore[misc]
    def __init__(self, global_config: Any, uopts: Any) -> None:
        super().__init__(global_config, uopts)
        self.bad_sends = Throttle()
        self.asenders = [_Sender(self)]
        self.areceivers = [_Receiver(self)]

    def send_to(self, data: Any, address: Any, delayed: bool = False) -> None:
        checked = checked_address(address)
        if checked is None:  # never queue what the sender cannot send
            if self.bad_sends.allow():
                log.warning("SIP message to invalid address %r dropped", address)
            return
        super().send_to(data, checked, delayed)

    def send_now(self, data: bytes, address: Any) -> None:
        """Sender thread: one datagram to a checked address, retried while the socket is full."""
        checked = checked_address(address)
        if checked is None or len(data) > MAX_DATAGRAM:
            if self.bad_sends.allow():
                log.warning("SIP message of %d bytes to %r dropped", len(data), address)
            return
        address = checked
        try:
            ai = socket.getaddrinfo(address[0], None, self.uopts.family)
        except (OSError, UnicodeError, ValueError):
            if self.bad_sends.allow():
                log.warning("SIP message to unresolvable host %r dropped", address[0])
            return
        if self.uopts.family == socket.AF_INET:
            dest: tuple[Any, ...] = (ai[0][4][0], address[1])
        else:
            sa: tuple[Any, ...] = ai[0][4]  # IPv6: (host, port, flowinfo, scope_id)
            dest = (sa[0], address[1], sa[2], sa[3])
        for _ in range(20):
            try:
                if self.skt.sendto(data, dest) == len(data):
                    return
            except BrokenPipeError:
                return
            except OSError as e:
                if e.errno not in (EWOULDBLOCK, ENOBUFS, EAGAIN):
                    log.warning("SIP send to %s:%s failed: %s", dest[0], dest[1], e)
                    return
            time.sleep(0.01)

    def threads(self) -> list[threading.Thread]:
        return [*(self.asenders or ()), *(self.areceivers or ())]


class GuardedTransactionManager(SipTransactionManager):  # type: ignore[misc]
    model_udp_server = (GuardedUdpServer, GuardedUdpOpts)

    def __init__(self, global_config: dict[str, Any], req_cb: Callable[..., Any],
                 trusted: Collection[tuple[str, int]]) -> None:
        self.trusted = frozenset(trusted)
        self.refused = Throttle()
        self.counts = {"accepted": 0, "refused": 0, "errors": 0}
        super().__init__(global_config, req_cb)

    def servers(self) -> list[GuardedUdpServer]:
        return list(self.l4r.cache_l2s.values()) if self.l4r is not None else []

    def handleIncoming(self, data_in: bytes, ra: Any, server: Any, rtime: Any) -> None:
        source = (str(ra.address[0]), int(ra.address[1]))
        try:
            verdict = screen(data_in, source, self.trusted)
        except Exception:  # a bug in the screen must not let the datagram through unchecked
            log.exception("SIP datagram from %s:%s could not be screened", *source)
            return
        if not verdict.accept:
            self.counts["refused"] += 1
            if verdict.reply is not None:
                server.send_to(verdict.reply, source)
            if self.refused.allow():
                log.warning("SIP datagram from %s:%s refused (%s)%s", *source, verdict.why,
                            "" if verdict.reply is not None else ", no answer")
            return
        self.counts["accepted"] += 1
        if verdict.data is not None:
            data_in = verdict.data
        try:
            super().handleIncoming(data_in, ra, server, rtime)
        except Exception:
            self.counts["errors"] += 1
            log.exception("SIP message from %s:%s failed in sippy", *source)
            self._answer_500(data_in)

    def _answer_500(self, data_in: bytes) -> None:
        """A request whose server transaction sippy left unanswered gets ``500`` (retransmissions
        then get it too); anything else stays as sippy left it."""
        try:
            from sippy.SipRequest import SipRequest

            req = SipRequest(data_in.decode())
            if req.getMethod() == "ACK":
                return
            t = self.tserver.get(req.getTId(wBRN=True)) if self.tserver is not None else None
            if t is not None and t.data is None and t.state in (TRYING, RINGING):
                self.sendResponse(req.genResponse(500, "Server Internal Error"), t)
        except Exception:
            log.exception("no 500 for a failed request")
