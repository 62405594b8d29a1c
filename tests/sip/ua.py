"""A small SIP user agent over UDP for the SIP tests (UAC and UAS roles, digest auth, RTP).

Not a full stack: enough to drive real Kamailio/rtpengine processes deterministically and to
look at every header that arrives. Each UA owns one UDP socket on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def rand(n: int = 8) -> str:
    return os.urandom(n).hex()


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: str = ""
    source: tuple[str, int] = ("", 0)

    COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
               "c": "content-type", "k": "supported"}

    @classmethod
    def parse(cls, data: bytes, source: tuple[str, int] = ("", 0)) -> Message:
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return cls(lines[0], headers, body, source)

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0] if self.is_request else self.cseq_method

    @property
    def uri(self) -> str:
        return self.first.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.first.split(" ")[1]) if not self.is_request else 0

    @property
    def reason(self) -> str:
        return self.first.split(" ", 2)[2] if not self.is_request else ""

    def all(self, name: str) -> list[str]:
        n = name.lower()
        out = []
        for k, v in self.headers:
            k = self.COMPACT.get(k.lower(), k.lower()) if len(k) == 1 else k.lower()
            if k == n:
                out.append(v)
        return out

    def get(self, name: str, default: str | None = None) -> str | None:
        vals = self.all(name)
        return vals[0] if vals else default

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def values(self, name: str) -> list[str]:
        """Header values split on commas (Via, Record-Route, Contact lists)."""
        out = []
        for v in self.all(name):
            out += [p.strip() for p in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)(?![^<]*>)", v) if p.strip()]
        return out

    @property
    def call_id(self) -> str:
        return self["call-id"]

    @property
    def cseq(self) -> int:
        return int(self["cseq"].split()[0])

    @property
    def cseq_method(self) -> str:
        return self["cseq"].split()[1]

    @property
    def branch(self) -> str:
        m = re.search(r"branch=([^;,\s]+)", self.values("via")[0])
        return m.group(1) if m else ""

    def tag(self, header: str) -> str | None:
        m = re.search(r";\s*tag=([^;>\s]+)", self[header])
        return m.group(1) if m else None

    def __str__(self) -> str:
        return "\r\n".join([self.first, *[f"{k}: {v}" for k, v in self.headers]]) + "\r\n\r\n" + self.body


def uri_of(header_value: str) -> str:
    m = re.search(r"<([^>]+)>", header_value)
    return m.group(1) if m else header_value.split(";")[0].strip()


def host_port(uri: str) -> tuple[str, int]:
    rest = uri.split(":", 1)[1]
    rest = rest.split("@", 1)[-1]
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    host, _, port = rest.partition(":")
    return host, int(port) if port else 5060


def sdp(port: int, host: str = "127.0.0.1", codecs: tuple[int, ...] = (8, 0, 101)) -> str:
    names = {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}
    lines = ["v=0", f"o=- {rand(4)} 1 IN IP4 {host}", "s=polyvox-test", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(str(c) for c in codecs)}",
             *[f"a=rtpmap:{c} {names[c]}" for c in codecs], "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def sdp_media(body: str) -> tuple[str, int]:
    """(connection address, audio port) of an SDP body."""
    c = re.search(r"^c=IN IP[46] (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+)", body, re.M)
    assert c and m, body
    return c.group(1), int(m.group(1))


def digest(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    params = dict((k, v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = rand(4), "00000001"
        resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    parts.append(f'response="{resp}"')
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str
    remote_uri: str
    remote_target: str
    route: list[str] = field(default_factory=list)
    cseq: int = 1
    invite: Message | None = None  # the last INVITE sent (UAC) or received (UAS)
    answer: Message | None = None  # final response (UAC)
    responses: list[Message] = field(default_factory=list)


class UA:
    def __init__(self, user: str, domain: str, proxy: tuple[str, int], password: str | None = None,
                 port: int = 0) -> None:
        self.user, self.domain, self.proxy, self.password = user, domain, proxy, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.host, self.port = self.sock.getsockname()
        self.pending: list[Message] = []
        self.seen_branches: set[tuple[str, str]] = set()

    def close(self) -> None:
        self.sock.close()

    # ----- transport
    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    def via(self, branch: str | None = None) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};branch={branch or 'z9hG4bK' + rand()};rport"

    def send(self, text: str, dest: tuple[str, int] | None = None) -> None:
        self.sock.sendto(text.encode(), dest or self.proxy)

    def recv(self, match: Callable[[Message], bool] = lambda m: True, timeout: float = 5.0) -> Message:
        """Next message matching ``match``; others are kept for later calls. Request
        retransmissions (same branch and method) are dropped."""
        for i, m in enumerate(self.pending):
            if match(m):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user}@{self.port}: no matching message in {timeout}s")
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if not data.strip():
                continue
            m = Message.parse(data, src)
            if m.is_request:
                key = (m.branch, m.method)
                if key in self.seen_branches:
                    continue
                self.seen_branches.add(key)
            if match(m):
                return m
            self.pending.append(m)

    def response(self, call_id: str, method: str | None = None, final: bool = False,
                 timeout: float = 5.0) -> Message:
        return self.recv(lambda m: not m.is_request and m.call_id == call_id
                         and (method is None or m.cseq_method == method) and (not final or m.status >= 200),
                         timeout)

    def request(self, method: str | None = None, timeout: float = 5.0, call_id: str | None = None) -> Message:
        return self.recv(lambda m: m.is_request and (method is None or m.method == method)
                         and (call_id is None or m.call_id == call_id), timeout)

    def drain(self, wait: float = 0.2) -> list[Message]:
        got = []
        try:
            while True:
                got.append(self.recv(timeout=wait))
        except TimeoutError:
            pass
        return got

    # ----- building requests
    def build(self, method: str, ruri: str, *, call_id: str, from_tag: str, to: str, cseq: int,
              branch: str | None = None, body: str = "", extra: list[str] | None = None,
              route: list[str] | None = None, from_uri: str | None = None, to_tag: str | None = None) -> str:
        lines = [f"{method} {ruri} SIP/2.0", f"Via: {self.via(branch)}", "Max-Forwards: 70",
                 f"From: <{from_uri or f'sip:{self.user}@{self.domain}'}>;tag={from_tag}",
                 f"To: <{to}>" + (f";tag={to_tag}" if to_tag else ""), f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}", f"Contact: {self.contact}", "User-Agent: polyvox-test-ua"]
        lines += [f"Route: {r}" for r in route or []]
        lines += extra or []
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    # ----- REGISTER
    def register(self, expires: int = 600, password: str | None = None, contact: str | None = None,
                 to_domain: str | None = None, call_id: str | None = None, cseq: int = 1) -> Message:
        """REGISTER, answering one digest challenge. Returns the final response."""
        domain = to_domain or self.domain
        call_id = call_id or f"reg-{rand()}@test"
        tag = rand(4)
        ruri = f"sip:{domain}"
        aor = f"sip:{self.user}@{domain}"
        extra = [f"Expires: {expires}"]
        contact = contact or self.contact
        auth: list[str] = []
        for _ in range(2):
            text = self.build("REGISTER", ruri, call_id=call_id, from_tag=tag, to=aor, cseq=cseq,
                              extra=[*extra, *auth], from_uri=aor).replace(f"Contact: {self.contact}",
                                                                           f"Contact: {contact}")
            self.send(text)
            r = self.response(call_id, "REGISTER", final=True)
            if r.status == 401 and not auth:
                pw = self.password if password is None else password
                auth = [f"Authorization: {digest(r['www-authenticate'], 'REGISTER', ruri, self.user, pw or '')}"]
                cseq += 1
                continue
            return r
        return r

    # ----- INVITE (UAC)
    def invite(self, target: str, body: str = "", extra: list[str] | None = None, auth: bool = True,
               ruri: str | None = None, timeout: float = 10.0, wait_final: bool = True) -> Dialog:
        """Sends an INVITE to ``target`` (user part or full URI), answering a 407 challenge when
        ``auth``. With ``wait_final`` False it returns once the (authenticated) INVITE is out."""
        to = target if target.startswith("sip:") else f"sip:{target}@{self.domain}"
        ruri = ruri or to
        d = Dialog(call_id=f"call-{rand()}@test", local_tag=rand(4), remote_tag=None,
                   local_uri=f"sip:{self.user}@{self.domain}", remote_uri=to, remote_target=ruri)
        self._send_invite(d, ruri, to, body, extra or [])
        if auth:
            r = self.response(d.call_id, "INVITE", timeout=timeout)
            if r.status == 407:
                self.ack_negative(d, r)
                pw = self.password or ""
                hdr = f"Proxy-Authorization: {digest(r['proxy-authenticate'], 'INVITE', ruri, self.user, pw)}"
                d.cseq += 1
                self._send_invite(d, ruri, to, body, [*(extra or []), hdr])
            else:
                self.pending.insert(0, r)
        if wait_final:
            self.wait_final(d, timeout)
        return d

    def _send_invite(self, d: Dialog, ruri: str, to: str, body: str, extra: list[str]) -> None:
        text = self.build("INVITE", ruri, call_id=d.call_id, from_tag=d.local_tag, to=to, cseq=d.cseq,
                          body=body, extra=extra)
        d.invite = Message.parse(text.encode())
        self.send(text)

    def wait_final(self, d: Dialog, timeout: float = 10.0) -> Message:
        while True:
            r = self.response(d.call_id, "INVITE", timeout=timeout)
            d.responses.append(r)
            if r.status >= 200:
                d.answer = r
                if r.status < 300:
                    self.confirm(d, r)
                else:
                    self.ack_negative(d, r)
                return r

    def ack_negative(self, d: Dialog, r: Message) -> None:
        assert d.invite is not None
        lines = [f"ACK {d.invite.uri} SIP/2.0", f"Via: {d.invite.values('via')[0]}", "Max-Forwards: 70",
                 f"From: <{d.local_uri}>;tag={d.local_tag}", f"To: {r['to']}", f"Call-ID: {d.call_id}",
                 f"CSeq: {r.cseq} ACK", "Content-Length: 0"]
        self.send("\r\n".join(lines) + "\r\n\r\n")

    def confirm(self, d: Dialog, r: Message) -> None:
        """2xx: learn the dialog and send the ACK along the route set."""
        d.remote_tag = r.tag("to")
        d.remote_target = uri_of(r["contact"])
        d.route = list(reversed(r.values("record-route")))
        self.in_dialog(d, "ACK", cseq=d.cseq)

    def in_dialog(self, d: Dialog, method: str, cseq: int | None = None, body: str = "") -> str:
        if cseq is None:
            d.cseq += 1
            cseq = d.cseq
        text = self.build(method, d.remote_target, call_id=d.call_id, from_tag=d.local_tag, to=d.remote_uri,
                          to_tag=d.remote_tag, cseq=cseq, route=d.route, body=body, from_uri=d.local_uri)
        dest = host_port(uri_of(d.route[0])) if d.route else host_port(d.remote_target)
        self.send(text, dest)
        return text

    def bye(self, d: Dialog, timeout: float = 5.0) -> Message:
        self.in_dialog(d, "BYE")
        return self.response(d.call_id, "BYE", final=True, timeout=timeout)

    def cancel(self, d: Dialog) -> None:
        assert d.invite is not None
        inv = d.invite
        lines = [f"CANCEL {inv.uri} SIP/2.0", f"Via: {inv.values('via')[0]}", "Max-Forwards: 70",
                 f"From: {inv['from']}", f"To: {inv['to']}", f"Call-ID: {d.call_id}", f"CSeq: {d.cseq} CANCEL",
                 "Content-Length: 0"]
        self.send("\r\n".join(lines) + "\r\n\r\n")

    # ----- UAS
    def respond(self, req: Message, code: int, reason: str, body: str = "", to_tag: str | None = None,
                extra: list[str] | None = None) -> str:
        """Answers ``req`` (sent back to the address it came from, as the proxy uses rport)."""
        to = req["to"]
        if code > 100 and ";tag=" not in to:
            to += f";tag={to_tag or 'uas' + req.call_id[:6]}"
        lines = [f"SIP/2.0 {code} {reason}", *[f"Via: {v}" for v in req.all("via")],
                 *[f"Record-Route: {v}" for v in req.all("record-route")],
                 f"From: {req['from']}", f"To: {to}", f"Call-ID: {req.call_id}", f"CSeq: {req['cseq']}",
                 f"Contact: {self.contact}", *(extra or [])]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        text = "\r\n".join(lines) + "\r\n\r\n" + body
        self.send(text, req.source)
        return text

    def answer(self, req: Message, body: str = "", ring: bool = True) -> Dialog:
        """180 then 200 to an INVITE; returns the UAS side of the dialog."""
        tag = "uas" + rand(3)
        if ring:
            self.respond(req, 180, "Ringing", to_tag=tag)
        self.respond(req, 200, "OK", body=body, to_tag=tag)
        return Dialog(call_id=req.call_id, local_tag=tag, remote_tag=req.tag("from"),
                      local_uri=uri_of(req["to"]), remote_uri=uri_of(req["from"]),
                      remote_target=uri_of(req["contact"]), route=req.values("record-route"), invite=req)


class RtpPort:
    """A UDP socket sending and receiving G.711 RTP packets (160-byte payloads)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.ssrc = struct.unpack("!I", os.urandom(4))[0]
        self.seq = 0

    def send(self, dest: tuple[str, int], count: int = 10, pt: int = 8, interval: float = 0.02) -> None:
        for _ in range(count):
            self.seq += 1
            hdr = struct.pack("!BBHII", 0x80, pt, self.seq & 0xFFFF, self.seq * 160, self.ssrc)
            self.sock.sendto(hdr + bytes([0xD5]) * 160, dest)
            time.sleep(interval)

    def receive(self, timeout: float = 2.0, idle: float = 0.3) -> list[tuple[bytes, tuple[str, int]]]:
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(idle if got else max(0.01, deadline - time.monotonic()))
            try:
                got.append(self.sock.recvfrom(2048))
            except TimeoutError:
                if got:
                    break
        return got

    def close(self) -> None:
        self.sock.close()
