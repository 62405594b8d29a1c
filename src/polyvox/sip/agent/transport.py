"""UDP client transactions (RFC 3261 §17.1.2, non-INVITE) on one asyncio datagram socket.

A request is retransmitted every T1, doubling up to T2, until a final response arrives or the
transaction times out; responses are matched by the top Via branch. Requests the agent
receives on this socket (a registrar's OPTIONS keepalive) are answered ``200 OK``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from polyvox.sip.agent.sipmsg import SipMessage, token

log = logging.getLogger("polyvox.sip.agent")

T1 = 0.5
T2 = 4.0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.owner._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.: the timer decides
        log.debug("udp error: %s", exc)


class UdpTransport:
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.host = ""
        self.port = 0
        self._waiting: dict[str, asyncio.Future[SipMessage]] = {}

    async def open(self, host: str, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(host, port),
                                                           family=family)
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        self.host, self.port = str(sockname[0]), int(sockname[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()
        self._waiting.clear()

    @staticmethod
    def new_branch() -> str:
        return "z9hG4bK" + token(8)

    async def resolve(self, host: str, port: int) -> tuple[str, int]:
        """An address literal as is, a host name through the resolver (A/AAAA, no SRV)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"cannot resolve {host}")
        addr = infos[0][4]
        return str(addr[0]), int(addr[1])

    async def transaction(self, data: bytes, branch: str, dest: tuple[str, int], timeout: float) -> SipMessage | None:
        """Sends ``data`` to ``dest`` and returns the final response, or None after ``timeout`` s."""
        assert self.transport is not None, "transport not open"
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[SipMessage] = loop.create_future()
        self._waiting[branch] = fut
        deadline = loop.time() + timeout
        interval = T1
        try:
            while True:
                self.transport.sendto(data, dest)
                left = deadline - loop.time()
                if left <= 0:
                    return None
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), min(interval, left))
                except TimeoutError:
                    interval = min(interval * 2, T2)
        finally:
            self._waiting.pop(branch, None)

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # keepalive CRLF
        try:
            msg = SipMessage.parse(data)
        except (ValueError, IndexError):
            log.debug("unparsable datagram from %s", addr)
            return
        if not msg.is_response:
            self._answer(msg, addr)
            return
        if msg.status < 200:
            return  # provisional: keep waiting (retransmissions continue, RFC 3261 §17.1.2.2)
        fut = self._waiting.get(msg.branch)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def _answer(self, req: SipMessage, addr: tuple[str, int]) -> None:
        method = req.first.split(" ", 1)[0]
        if method == "ACK" or self.transport is None:
            return
        code, reason = (200, "OK") if method == "OPTIONS" else (405, "Method Not Allowed")
        to = req.get("to") or ""
        if ";tag=" not in to:
            to += ";tag=" + token(4)
        lines = [f"SIP/2.0 {code} {reason}", *[f"Via: {v}" for v in req.all("via")], f"From: {req.get('from')}",
                 f"To: {to}", f"Call-ID: {req.get('call-id')}", f"CSeq: {req.get('cseq')}"]
        if code == 405:
            lines.append("Allow: OPTIONS")
        lines.append("Content-Length: 0")
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), addr)


class SocketPool:
    """One :class:`UdpTransport` per local address (spec 8.14.2 "Local socket", docs/sip-agent.md
    §7): the main one (the agent's ``--host``) and, opened on first use, one on each proxy trunks
    address a carrier or DDI provider signals from, each on a free port. An address this host
    cannot bind (another host's, a typo) falls back to the main socket with a warning, as
    proxy-trunks does for the addresses it does not listen on."""

    def __init__(self) -> None:
        self.main = UdpTransport()
        self.extra: dict[str, UdpTransport] = {}
        self._failed: set[str] = set()

    async def open(self, host: str) -> None:
        await self.main.open(host)

    async def get(self, local_ip: str | None) -> UdpTransport:
        """The socket bound to ``local_ip`` (None / "" / the main address: the main socket)."""
        if not local_ip or local_ip == self.main.host or local_ip in self._failed:
            return self.main
        udp = self.extra.get(local_ip)
        if udp is None:
            udp = UdpTransport()
            try:
                await udp.open(local_ip)
            except OSError as e:
                self._failed.add(local_ip)
                log.warning("cannot bind %s (%s): using the main address %s", local_ip, e, self.main.host)
                return self.main
            self.extra[local_ip] = udp
            log.info("local socket %s:%s opened", udp.host, udp.port)
        return udp

    def close(self) -> None:
        self.main.close()
        for udp in self.extra.values():
            udp.close()
        self.extra.clear()
