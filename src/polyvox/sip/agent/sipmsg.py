"""Minimal SIP messages for the trunks agent: parse a UDP datagram, build OPTIONS/REGISTER,
answer a digest challenge (RFC 3261 §7, §22; RFC 2617 MD5 with ``qop=auth``)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}


def token(n: int = 8) -> str:
    return os.urandom(n).hex()


@dataclass
class SipMessage:
    first: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        text = data.decode("utf-8", errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
                continue
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip(), value.strip()))
        if not lines[0].strip():
            raise ValueError("empty start line")
        return cls(lines[0], headers, body)

    @property
    def is_response(self) -> bool:
        return self.first.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first.split(" ", 2)[1]) if self.is_response else 0

    @property
    def reason(self) -> str:
        parts = self.first.split(" ", 2)
        return parts[2] if self.is_response and len(parts) > 2 else ""

    def all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self.headers if (COMPACT.get(k.lower(), k.lower()) if len(k) == 1 else k.lower()) == n]

    def get(self, name: str) -> str | None:
        vals = self.all(name)
        return vals[0] if vals else None

    @property
    def branch(self) -> str:
        via = self.get("via") or ""
        m = re.search(r"branch=([^;,\s]+)", via)
        return m.group(1) if m else ""

    @property
    def cseq_method(self) -> str:
        parts = (self.get("cseq") or "").split()
        return parts[1] if len(parts) > 1 else ""


def build_request(method: str, ruri: str, *, via_host: str, via_port: int, branch: str, from_uri: str,
                  from_tag: str, to_uri: str, call_id: str, cseq: int, extra: list[str] | None = None,
                  contact: str | None = None) -> bytes:
    lines = [f"{method} {ruri} SIP/2.0", f"Via: SIP/2.0/UDP {via_host}:{via_port};branch={branch};rport",
             "Max-Forwards: 70", f"From: <{from_uri}>;tag={from_tag}", f"To: <{to_uri}>", f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}"]
    if contact:
        lines.append(f"Contact: {contact}")
    lines += extra or []
    lines += ["User-Agent: polyvox-trunks-agent", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def challenge_params(value: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> {realm: x, nonce: y, qop: auth}."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported authentication scheme {scheme!r}")
    return {k.lower(): v.strip('"') for k, v in re.findall(r'(\w+)\s*=\s*("[^"]*"|[^,\s]+)', rest)}


def digest_authorization(challenge: dict[str, str], method: str, uri: str, user: str, password: str,
                         realm: str | None = None, nc: int = 1) -> str:
    """The credentials answering ``challenge`` (MD5, ``qop=auth`` when offered)."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise ValueError(f"unsupported digest algorithm {algorithm}")
    realm = realm or challenge.get("realm", "")
    nonce = challenge.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, ncs = token(4), f"{nc:08x}"
        resp = hashlib.md5(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        parts += ["qop=auth", f"nc={ncs}", f'cnonce="{cnonce}"']
    elif qops:
        raise ValueError(f"unsupported qop {challenge.get('qop')}")
    else:
        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    parts.append(f'response="{resp}"')
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


def granted_expires(resp: SipMessage, contact_uri: str, requested: int) -> int:
    """Expiry the registrar granted to our binding: the ``expires`` parameter of our Contact in the
    200 OK, else its Expires header, else what we asked for."""
    ours = contact_uri.lower()
    for value in resp.all("contact"):
        for part in re.split(r",(?![^<]*>)", value):
            m = re.search(r"<([^>]+)>", part)
            uri = (m.group(1) if m else part.split(";")[0]).strip().lower()
            if uri == ours:
                e = re.search(r";\s*expires\s*=\s*(\d+)", part, re.I)
                if e:
                    return int(e.group(1))
    exp = resp.get("expires")
    if exp and exp.strip().isdigit():
        return int(exp.strip())
    return requested


def parse_target(value: str, default_port: int = 5060) -> tuple[str, int]:
    """``sip:host:port``, ``host:port``, ``[v6]:port`` or ``host`` -> (host, port)."""
    v = value.strip()
    m = re.match(r"^(?:sips?:)?(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?", v, re.I)
    if not m or not m.group(1):
        raise ValueError(f"invalid SIP address {value!r}")
    host = m.group(1).strip("[]")
    return host, int(m.group(2)) if m.group(2) else default_port
