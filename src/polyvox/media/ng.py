"""rtpengine NG control protocol client (bencode over UDP), for tests and diagnostics.

A request is ``<cookie> <bencoded dict>`` sent to rtpengine's ``--listen-ng`` socket; the reply
is ``<cookie> <bencoded dict>`` with at least ``result`` (``ok``, ``pong``, ``error`` with an
``error-reason``). The proxies drive rtpengine through Kamailio's rtpengine module; this client
is what Python code (tests, ``polyvox`` diagnostics, the application server later) uses.
"""

from __future__ import annotations

import os
import socket
from typing import Any

Bencodable = int | str | bytes | list[Any] | dict[str, Any]


class NGError(Exception):
    """rtpengine answered ``result: error`` or did not answer."""


def bencode(value: Any) -> bytes:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray):
        return b"%d:%s" % (len(value), bytes(value))
    if isinstance(value, list | tuple):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        out = [b"d"]
        for k in sorted(value, key=lambda k: k.encode() if isinstance(k, str) else k):
            out.append(bencode(k))
            out.append(bencode(value[k]))
        out.append(b"e")
        return b"".join(out)
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing data after bencoded value")
    return value


def _decode(data: bytes, i: int) -> tuple[Any, int]:
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        i += 1
        items = []
        while data[i:i + 1] != b"e":
            v, i = _decode(data, i)
            items.append(v)
        return items, i + 1
    if c == b"d":
        i += 1
        d: dict[str, Any] = {}
        while data[i:i + 1] != b"e":
            k, i = _decode(data, i)
            v, i = _decode(data, i)
            d[k] = v
        return d, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        raw = data[colon + 1:colon + 1 + n]
        if len(raw) != n:
            raise ValueError("truncated string")
        try:
            return raw.decode(), colon + 1 + n
        except UnicodeDecodeError:
            return raw, colon + 1 + n
    raise ValueError(f"bad bencode at offset {i}")


def parse_url(url: str) -> tuple[str, int]:
    """``udp:127.0.0.1:22222`` (the rtpengines.url format) or ``127.0.0.1:22222``."""
    if url.startswith("udp:"):
        url = url[4:]
    elif url.startswith("udp6:"):
        url = url[5:]
    host, _, port = url.rpartition(":")
    return host.strip("[]"), int(port)


class NGClient:
    """Synchronous NG client: one UDP socket, per-request cookie, timeout and retries."""

    def __init__(self, url: str = "udp:127.0.0.1:22222", timeout: float = 1.0, retries: int = 2) -> None:
        self.address = parse_url(url)
        self.timeout = timeout
        self.retries = retries
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NGClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        cookie = os.urandom(6).hex().encode()
        body = {"command": command, **{k.replace("_", "-"): v for k, v in params.items()}}
        packet = cookie + b" " + bencode(body)
        for _attempt in range(self.retries + 1):
            self.sock.sendto(packet, self.address)
            self.sock.settimeout(self.timeout)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    got_cookie, _, payload = data.partition(b" ")
                    if got_cookie == cookie:
                        reply = bdecode(payload)
                        if not isinstance(reply, dict):
                            raise NGError(f"unexpected reply {reply!r}")
                        if reply.get("result") == "error":
                            raise NGError(str(reply.get("error-reason", "error")))
                        return reply
            except TimeoutError:
                continue
        raise NGError(f"no answer from rtpengine at {self.address[0]}:{self.address[1]}")

    def ping(self) -> bool:
        return self.request("ping").get("result") == "pong"

    def offer(self, sdp: str, call_id: str, from_tag: str, **params: Any) -> dict[str, Any]:
        return self.request("offer", sdp=sdp, call_id=call_id, from_tag=from_tag, **params)

    def answer(self, sdp: str, call_id: str, from_tag: str, to_tag: str, **params: Any) -> dict[str, Any]:
        return self.request("answer", sdp=sdp, call_id=call_id, from_tag=from_tag, to_tag=to_tag, **params)

    def delete(self, call_id: str, from_tag: str | None = None, **params: Any) -> dict[str, Any]:
        if from_tag is not None:
            params["from_tag"] = from_tag
        return self.request("delete", call_id=call_id, **params)

    def query(self, call_id: str, **params: Any) -> dict[str, Any]:
        return self.request("query", call_id=call_id, **params)

    def list_calls(self, limit: int = 1000) -> list[str]:
        return list(self.request("list", limit=limit).get("calls", []))

    def statistics(self) -> dict[str, Any]:
        return self.request("statistics")
