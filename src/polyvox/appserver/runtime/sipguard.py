"""First look at every datagram an application server worker receives, before sippy sees it.

The application server talks to the platform's two proxies only (ARCHITECTURE.md §1), and sippy
trusts what it parses: an address it cannot send to (``Via: …:99999``) reaches its sender thread,
a message it cannot parse gets no answer, an in-dialog request from anyone can end a call.
:func:`screen` decides, from the raw bytes and the source address, whether sippy may see the
message, and builds the stateless answer otherwise:

* responses and ACKs from a non-proxy source: dropped;
* requests from a non-proxy source: ``403 Forbidden: only the platform's proxies may call the
  application server``, except an out-of-dialog OPTIONS (liveness probes), which sippy answers;
* requests sippy could not handle — not UTF-8 (from a non-proxy source; from the proxies the
  invalid bytes become U+FFFD: an old phone's Latin-1 display name must not stop its calls), a bad
  request line, a header that does not parse,
  an address or port that cannot be sent to (Via, Contact, Record-Route, Route, Request-URI), a
  CSeq method other than the request's — ``400 Bad Request: <why>``;
* no answer at all when the five headers a response copies (Via, From, To, Call-ID, CSeq) cannot
  be found, and never an answer to an ACK or to a response.

Stateless answers go to the datagram's source address, never to the Via's: a forged Via must
not turn the worker into a reflector. This module imports sippy's parser lazily: call it from the
sippy thread (the ``ED2`` singleton binds to the thread that first imports sippy).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

#: largest UDP payload over IPv4 (65,535 − 8 − 20); the receive buffer is 65,535 bytes
MAX_DATAGRAM = 65507

FORBIDDEN = "Forbidden: only the platform's proxies may call the application server"

_REQUEST_LINE = re.compile(r"^([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP/2\.0$")
_COPIED = {"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
           "call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}
_CSEQ = re.compile(r"^\s*\d{1,10}\s+[A-Za-z0-9.!%*_+`'~-]+\s*$")
# headers whose URIs or addresses sippy may later send to
_ADDRESS_HEADERS = ("contact", "record-route", "route")


@dataclass(frozen=True)
class Verdict:
    accept: bool  # hand the datagram to sippy
    reply: bytes | None = None  # stateless answer for the source address
    why: str = ""  # for the log
    data: bytes | None = None  # what sippy gets instead of the datagram (repaired), None = as received


ACCEPT = Verdict(True)


class Refused(ValueError):
    """The request cannot be handled: ``400 Bad Request: <message>``."""


def reason_phrase(text: str, limit: int = 120) -> str:
    """A reason phrase that is safe on a status line: printable ASCII, no CR/LF, bounded."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return " ".join(clean.split())[:limit] or "Bad Request"


def header_lines(raw: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, value) of every header line of a raw message, folded lines joined."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    unfolded: list[bytes] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip()
        elif line.strip():
            unfolded.append(line)
    out: list[tuple[str, bytes]] = []
    for line in unfolded:
        name, sep, value = line.partition(b":")
        if sep:
            out.append((name.strip().lower().decode("latin-1"), value.strip()))
    return out


def stateless_response(raw: bytes, code: int, reason: str, server: str = "Polyvox AS",
                       extra: tuple[str, ...] = ()) -> bytes | None:
    """``SIP/2.0 <code> <reason>`` for the request in ``raw``, built from its own Via, From, To,
    Call-ID and CSeq lines (RFC 3261 §8.2.6.2; To gets a tag), or None when one is missing or the
    CSeq is unusable. Works on bytes, so that a request that is not UTF-8 can still be answered."""
    found: dict[str, list[bytes]] = {}
    for name, value in header_lines(raw):
        canon = _COPIED.get(name)
        if canon is not None:
            found.setdefault(canon, []).append(value)
    if any(not found.get(h) for h in ("Via", "From", "To", "Call-ID", "CSeq")):
        return None
    cseq = found["CSeq"][0]
    if not _CSEQ.match(cseq.decode("latin-1")) or cseq.split()[-1].upper() == b"ACK":
        return None
    to = found["To"][0]
    tail = to.rsplit(b">", 1)[-1] if b">" in to else to
    if b"tag=" not in tail.lower():
        to += b";tag=" + secrets.token_hex(6).encode()
    out = [f"SIP/2.0 {code} {reason_phrase(reason)}".encode()]
    out += [b"Via: " + v for v in found["Via"]]
    out += [b"From: " + found["From"][0], b"To: " + to, b"Call-ID: " + found["Call-ID"][0], b"CSeq: " + cseq,
            b"Server: " + server.encode(), *(x.encode() for x in extra), b"Content-Length: 0"]
    return b"\r\n".join(out) + b"\r\n\r\n"


def _port_ok(port: Any) -> bool:
    return port is None or port == "" or (isinstance(port, int) and 0 < port <= 65535)


def _host_ok(host: Any) -> bool:
    return isinstance(host, str) and 0 < len(host) <= 255 and not any(c in host for c in " \t\r\n\x00")


def check_url(url: Any, what: str) -> None:
    """A SIP URL sippy may send to: a host, a port in 1–65535 (or none), a sane maddr."""
    if not _host_ok(getattr(url, "host", None)):
        raise Refused(f"invalid host in {what}")
    if not _port_ok(getattr(url, "port", None)):
        raise Refused(f"invalid port in {what}")
    maddr = getattr(url, "maddr", None)
    if maddr is not None and not _host_ok(maddr):
        raise Refused(f"invalid maddr in {what}")


def check_request(text: str) -> Any:
    """sippy's ``SipRequest`` for ``text`` with every header parsed and every address usable,
    else :class:`Refused` naming the problem."""
    from sippy.SipRequest import SipRequest  # sippy thread only (see the module docstring)

    try:
        req = SipRequest(text)
    except Exception as e:
        raise Refused(str(e) or type(e).__name__) from e
    try:
        _check_parsed(req)
    except Refused:
        raise
    except Exception as e:  # whatever sippy's lazy parsers raise
        raise Refused(f"unusable request ({type(e).__name__})") from e
    return req


def _check_parsed(req: Any) -> None:
    for h in req.headers:
        try:
            h.getBody()
        except Exception as e:
            raise Refused(f"invalid {h.name.title()} header") from e
    check_url(req.getRURI(), "the Request-URI")
    for via in req.getHFBodys("via"):
        if "".join(str(via.sipver).split()).upper() != "SIP/2.0":
            raise Refused("invalid protocol in Via")
        host, port = via.getAddr()
        if not _host_ok(host) or not _port_ok(port):
            raise Refused("invalid address in Via")
        rport = via.params.get("rport")
        if rport not in (None, "") and not (str(rport).isdigit() and 0 < int(rport) <= 65535):
            raise Refused("invalid rport in Via")
        received = via.params.get("received")
        if received is not None and not _host_ok(received):
            raise Refused("invalid received in Via")
    if req.getMethod() == "INVITE":  # RFC 3261 §8.1.1.8: one Contact, the dialog's remote target
        if req.countHFs("contact") == 0:
            raise Refused("missing Contact")
        if req.countHFs("contact") > 1 or req.getHFBody("contact").asterisk:
            raise Refused("more than one Contact")
    for name in _ADDRESS_HEADERS:
        for body in req.getHFBodys(name):
            if getattr(body, "asterisk", False):
                continue
            check_url(body.getUrl(), name.title())
    if req.countHFs("call-id") != 1 or not str(req.getHFBody("call-id")).strip():
        raise Refused("missing or empty Call-ID")
    _, method = req.getHFBody("cseq").getCSeq()
    if method != req.getMethod():
        raise Refused("CSeq method does not match the request")
    req.getTIds()  # what sippy's transaction layer reads first


def screen(data: bytes, source: tuple[str, int], trusted: Collection[tuple[str, int]]) -> Verdict:
    """What to do with one datagram from ``source`` (see the module docstring)."""
    if len(data) < 32 or not data.strip():
        return Verdict(False, why="too short")  # keepalives (CRLF) and runts, as sippy does
    from_proxy = source in trusted
    if data.startswith(b"SIP/2.0 "):
        if not from_proxy:
            return Verdict(False, why="response from a non-proxy source")
        try:
            data.decode()
        except UnicodeDecodeError:
            return Verdict(False, why="response is not UTF-8")
        return ACCEPT
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    method = first.split(b" ", 1)[0].upper()
    if method == b"ACK" and not from_proxy:
        return Verdict(False, why="ACK from a non-proxy source")

    def refuse(code: int, reason: str) -> Verdict:
        if method == b"ACK":
            return Verdict(False, why=reason)
        return Verdict(False, stateless_response(data, code, reason), reason)

    repaired: bytes | None = None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        if not from_proxy:
            return refuse(400, "Bad Request: message is not valid UTF-8")
        text = data.decode(errors="replace")
        repaired = text.encode()
    if "\x00" in text:
        return refuse(400, "Bad Request: NUL byte in the message")
    line = _REQUEST_LINE.match(text.split("\n", 1)[0].rstrip("\r"))
    if line is None:
        return refuse(400, "Bad Request: malformed request line")
    if not from_proxy and line.group(1) != "OPTIONS":
        return refuse(403, FORBIDDEN)
    headers = header_lines(data)
    if sum(1 for name, _ in headers if name in ("content-length", "l")) > 1:
        return refuse(400, "Bad Request: more than one Content-Length")
    try:
        req = check_request(text)
    except Refused as e:
        return refuse(400, f"Bad Request: {e}")
    if not from_proxy and req.getHFBody("to").getTag() is not None:
        return refuse(403, FORBIDDEN)  # in-dialog OPTIONS from outside
    required = [o.strip() for name, v in headers if name == "require"
                for o in v.decode("latin-1").split(",") if o.strip()]
    if required and line.group(1) not in ("ACK", "CANCEL"):
        # RFC 3261 §8.2.2.3: no extension is supported here (no 100rel, no session timers)
        unsupported = ", ".join(dict.fromkeys(required))
        return Verdict(False, stateless_response(data, 420, "Bad Extension", extra=(f"Unsupported: {unsupported}",)),
                       f"Bad Extension: {unsupported}")
    return ACCEPT if repaired is None else Verdict(True, data=repaired)
