"""The SIP torture corpus: RFC 4475's messages (bit-exact files in ``rfc4475/``) and the
malformed variants of issue 19, each with what a well-behaved element does with it.

A message is bytes with placeholders, made concrete for one send by :func:`render`:

- ``{T}`` the target (host:port of the proxy or application server under test),
- ``{L}`` the sender's own socket (host:port) so that answers come back to it,
- ``{D}`` the tenant domain (DemoCompany's ``127.0.0.1``),
- ``{S}`` a sink socket that must receive nothing (open-relay probes),
- ``{N}`` a token unique to this send (Call-ID, branch, tags),
- ``{U}`` the number dialled by the variants (one the target answers at once),
- ``{P}`` the transport (UDP/TCP) in the variants' Via,
- ``{A}`` the user name of the tenant endpoint whose credentials answer the challenge (family
  ``authenticated``: messages that reach the routing code behind the digest check).

RFC 4475's messages name hosts of ``example.com``/``192.0.2.0/24`` (and a broadcast Via);
:func:`adapt_rfc` points them at loopback while keeping what each message tortures: the
Request-URI host (and port) and every Route URI become the target, every Via sent-by of a
request becomes the sender (the top Via of a response becomes the target, the element that
"sent" the request), every other host becomes the tenant domain. Only the header section is
rewritten: bodies, folding, escapes, NUL and non-UTF-8 octets stay as the RFC has them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

RFC_DIR = Path(__file__).resolve().parent / "rfc4475"


class Expect(Enum):
    """What the target must do with a message (besides never answering 500, never dying,
    never logging a traceback, and answering the next OPTIONS)."""

    ANSWER = "answer"  # a well-formed request: a final response is due (any code but 500)
    REJECT = "reject"  # must be refused: a 4xx (or a code in ``also``) or silence
    ANY = "any"  # the element may answer or not (it cannot reply, or RFC 4475 leaves it open)
    SILENT = "silent"  # a response or an ACK: nothing is answered


@dataclass(frozen=True)
class Torture:
    name: str
    family: str  # the batch it is sent in
    source: str  # RFC 4475 section, or "issue 19" / "RFC 3261 §x" for the variants
    what: str  # what it tortures
    data: bytes  # with the placeholders above (RFC messages: as in the RFC, adapted at render)
    expect: Expect
    also: tuple[int, ...] = ()  # other codes accepted besides 4xx (REJECT) — e.g. 505 for SIP/7.0
    rfc: bool = False  # an RFC 4475 message (host names adapted by adapt_rfc)
    udp: bool = True  # sent over UDP (some do not fit a datagram)
    tcp: bool = True  # sent over TCP
    relay_probe: bool = False  # the sink must stay silent
    auth: bool = False  # sent with the digest credentials of a tenant's endpoint ({A}) after a challenge
    must: tuple[int, ...] = ()  # the final answer required (ANSWER): e.g. 486, the busy callee, = the call got through


# ----------------------------------------------------------------------------- RFC 4475
# (file, section, title, expectation, extra accepted codes). Expectations follow the RFC's text
# for each message, as seen by a proxy or an application server that is not the final UAS.
RFC4475: list[tuple[str, str, str, Expect, tuple[int, ...]]] = [
    ("wsinv", "3.1.1.1", "A Short Tortuous INVITE", Expect.ANSWER, ()),
    ("intmeth", "3.1.1.2", "Wide Range of Valid Characters", Expect.ANSWER, ()),
    ("esc01", "3.1.1.3", "Valid Use of the % Escaping Mechanism", Expect.ANSWER, ()),
    ("escnull", "3.1.1.4", "Escaped Nulls in URIs", Expect.ANSWER, ()),
    ("esc02", "3.1.1.5", "Use of % When It Is Not an Escape", Expect.ANSWER, ()),
    ("lwsdisp", "3.1.1.6", "Message with No LWS between Display Name and <", Expect.ANSWER, ()),
    ("longreq", "3.1.1.7", "Long Values in Header Fields", Expect.ANSWER, ()),
    ("dblreq", "3.1.1.8", "Extra Trailing Octets in a UDP Datagram", Expect.ANSWER, ()),
    ("semiuri", "3.1.1.9", "Semicolon-Separated Parameters in URI User Part", Expect.ANSWER, ()),
    ("transports", "3.1.1.10", "Varied and Unknown Transport Types", Expect.ANSWER, ()),
    ("mpart01", "3.1.1.11", "Multipart MIME Message", Expect.ANSWER, ()),
    ("unreason", "3.1.1.12", "Unusual Reason Phrase", Expect.SILENT, ()),
    ("noreason", "3.1.1.13", "Empty Reason Phrase", Expect.SILENT, ()),
    ("badinv01", "3.1.2.1", "Extraneous Header Field Separators", Expect.REJECT, ()),
    ("clerr", "3.1.2.2", "Content Length Larger Than Message", Expect.REJECT, ()),
    ("ncl", "3.1.2.3", "Negative Content-Length", Expect.REJECT, ()),
    ("scalar02", "3.1.2.4", "Request Scalar Fields with Overlarge Values", Expect.REJECT, ()),
    ("scalarlg", "3.1.2.5", "Response Scalar Fields with Overlarge Values", Expect.SILENT, ()),
    ("quotbal", "3.1.2.6", "Unterminated Quoted String in Display Name", Expect.REJECT, ()),
    ("ltgtruri", "3.1.2.7", "<> Enclosing Request-URI", Expect.REJECT, ()),
    ("lwsruri", "3.1.2.8", "Malformed SIP Request-URI (embedded LWS)", Expect.REJECT, ()),
    ("lwsstart", "3.1.2.9", "Multiple SP Separating Request-Line Elements", Expect.REJECT, ()),
    ("trws", "3.1.2.10", "SP Characters at End of Request-Line", Expect.REJECT, ()),
    ("escruri", "3.1.2.11", "Escaped Headers in SIP Request-URI", Expect.REJECT, ()),
    ("baddate", "3.1.2.12", "Invalid Time Zone in Date Header Field", Expect.REJECT, ()),
    ("regbadct", "3.1.2.13", "Failure to Enclose name-addr URI in <>", Expect.REJECT, ()),
    ("badaspec", "3.1.2.14", "Spaces within addr-spec", Expect.REJECT, ()),
    ("baddn", "3.1.2.15", "Non-token Characters in Display Name", Expect.REJECT, ()),
    ("badvers", "3.1.2.16", "Unknown Protocol Version", Expect.REJECT, (505,)),
    ("mismatch01", "3.1.2.17", "Start Line and CSeq Method Mismatch", Expect.REJECT, ()),
    ("mismatch02", "3.1.2.18", "Unknown Method with CSeq Method Mismatch", Expect.REJECT, ()),
    ("bigcode", "3.1.2.19", "Overlarge Response Code", Expect.SILENT, ()),
    ("badbranch", "3.2.1", "Missing Transaction Identifier", Expect.ANSWER, ()),
    ("insuf", "3.3.1", "Missing Required Header Fields", Expect.REJECT, ()),
    ("unkscm", "3.3.2", "Request-URI with Unknown Scheme", Expect.REJECT, ()),
    ("novelsc", "3.3.3", "Request-URI with Known but Atypical Scheme", Expect.ANY, ()),
    ("unksm2", "3.3.4", "Unknown URI Schemes in Header Fields", Expect.ANSWER, ()),
    ("bext01", "3.3.5", "Proxy-Require and Require", Expect.REJECT, ()),
    ("invut", "3.3.6", "Unknown Content-Type", Expect.ANSWER, ()),
    ("regaut01", "3.3.7", "Unknown Authorization Scheme", Expect.ANSWER, ()),
    ("multi01", "3.3.8", "Multiple Values in Single Value Required Fields", Expect.REJECT, ()),
    ("mcl01", "3.3.9", "Multiple Content-Length Values", Expect.REJECT, ()),
    ("bcast", "3.3.10", "200 OK Response with Broadcast Via Header Field Value", Expect.SILENT, ()),
    ("zeromf", "3.3.11", "Max-Forwards of Zero", Expect.ANSWER, ()),
    ("cparam01", "3.3.12", "REGISTER with a Contact Header Parameter", Expect.ANSWER, ()),
    ("cparam02", "3.3.13", "REGISTER with a url-parameter", Expect.ANSWER, ()),
    ("regescrt", "3.3.14", "REGISTER with a URL Escaped Header", Expect.ANSWER, ()),
    ("sdp01", "3.3.15", "Unacceptable Accept Offering", Expect.ANSWER, ()),
    ("inv2543", "3.4.1", "INVITE with RFC 2543 Syntax", Expect.ANSWER, ()),
]

# RFC 4475's sections map to batches: parser-valid, parser-invalid, semantics (3.2-3.4).
def _rfc_family(section: str) -> str:
    if section.startswith("3.1.1"):
        return "rfc4475-valid"
    if section.startswith("3.1.2"):
        return "rfc4475-invalid"
    return "rfc4475-semantics"


def rfc_messages() -> list[Torture]:
    out = []
    for name, section, title, expect, also in RFC4475:
        data = (RFC_DIR / f"{name}.dat").read_bytes()
        out.append(Torture(name=f"rfc4475-{name}", family=_rfc_family(section), source=f"RFC 4475 §{section}",
                           what=title, data=data, expect=expect, also=also, rfc=True,
                           # 3.1.1.8 is about the octets after a UDP datagram's message; on TCP they
                           # are the start of a next (garbage) message
                           tcp=name != "dblreq"))
    return out


# Hosts the RFC's messages name (RFC 2606 / RFC 5737 names and a few literals).
_HOST = (rb"(?:(?:[A-Za-z0-9-]+\.)*(?:example\.(?:com|net|org|edu)|company\.com|jasomi\.com)"
         rb"|192\.0\.2\.\d{1,3}|135\.180\.130\.133|10\.0\.0\.1|255\.255\.255\.255|127\.0\.0\.1)")
_ANY_HOST = re.compile(rb"(?<![\w%.-])" + _HOST + rb"(?::\d+)?(?![\w.-])")
# a Via's sent-by, the protocol tokens possibly spread over folded lines (3.1.1.1)
_VIA = re.compile(rb"(SIP[ \t\r\n]*/[ \t\r\n]*\d+\.\d+[ \t\r\n]*/[ \t\r\n]*[A-Za-z0-9-]+[ \t\r\n]+)"
                  rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d+)?")
# the host[:port] of a sip/sips URI (user part skipped)
_URI_HOST = re.compile(rb"(sips?:(?:[^@\s>]*@)?)(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d+)?", re.I)
_HEADER = re.compile(rb"^([A-Za-z0-9!%*_+`'~.-]+)[ \t]*:")


def adapt_rfc(data: bytes) -> bytes:
    """An RFC 4475 message aimed at ``{T}`` and answering to ``{L}`` (see the module doc)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    is_response = lines[0].startswith(b"SIP/")
    # group physical lines into header fields (a line starting with SP/HT continues the field)
    fields: list[list[bytes]] = [[lines[0]]]
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and len(fields) > 1:
            fields[-1].append(line)
        else:
            fields.append([line])
    out: list[bytes] = []
    vias = 0
    for i, field in enumerate(fields):
        text = b"\r\n".join(field)
        m = _HEADER.match(field[0])
        name = m.group(1).lower() if m else b""
        if i == 0 and not is_response:
            text = _URI_HOST.sub(lambda mm: mm.group(1) + b"{T}", text, count=1)
        elif name in (b"via", b"v"):
            def via(mm: re.Match[bytes]) -> bytes:
                nonlocal vias
                vias += 1
                return mm.group(1) + (b"{T}" if is_response and vias == 1 else b"{L}")
            text = _VIA.sub(via, text)
        elif name == b"route":
            text = _URI_HOST.sub(lambda mm: mm.group(1) + b"{T}", text)
        text = _ANY_HOST.sub(b"{D}", text)
        out.append(text)
    return b"\r\n".join(out) + sep + body


# ----------------------------------------------------------------------------- issue 19 variants
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 9 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n")


def request(method: bytes = b"OPTIONS", ruri: bytes = b"sip:tortured@{T}", *, via: bytes | None = None,
            frm: bytes | None = None, to: bytes | None = None, callid: bytes | None = b"{N}@torture",
            cseq: bytes | None = None, maxfwd: bytes | None = b"70", extra: tuple[bytes, ...] = (),
            body: bytes = b"", content_length: bytes | None = None, drop: tuple[bytes, ...] = ()) -> bytes:
    """A request from the sender to the target, built header by header so that each variant
    changes exactly one thing. ``drop``: header names left out."""
    headers = [
        (b"Via", via if via is not None else b"SIP/2.0/{P} {L};branch=z9hG4bK{N};rport"),
        (b"Max-Forwards", maxfwd),
        (b"From", frm if frm is not None else b"<sip:torture@{D}>;tag=f{N}"),
        (b"To", to if to is not None else b"<sip:tortured@{D}>"),
        (b"Call-ID", callid),
        (b"CSeq", cseq if cseq is not None else b"1 " + method),
        (b"Contact", b"<sip:torture@{L}>"),
    ]
    lines = [method + b" " + ruri + b" SIP/2.0"]
    lines += [k + b": " + v for k, v in headers if v is not None and k not in drop]
    lines += list(extra)
    if body:
        lines.append(b"Content-Type: application/sdp")
    lines.append(b"Content-Length: " + (content_length if content_length is not None
                                         else str(len(body)).encode()))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _v(name: str, family: str, what: str, data: bytes, expect: Expect, source: str = "issue 19", **kw: object) -> Torture:
    return Torture(name=name, family=family, source=source, what=what, data=data, expect=expect, **kw)  # type: ignore[arg-type]


def variants() -> list[Torture]:
    rnd = random.Random(4475)  # fixed seed: the garbage is the same in every run
    garbage = bytes(rnd.randrange(256) for _ in range(700))
    bad_utf8 = b"\xff\xfe\xc3\x28\xed\xa0\x80"  # invalid start bytes, bad continuation, a surrogate
    invite = b"INVITE"
    out: list[Torture] = []
    # ---- Via sent-by ports that cannot be sent to (issue 19 item 2) and other broken Vias
    for label, port in (("99999", b"99999"), ("0", b"0"), ("minus1", b"-1"), ("nonnumeric", b"abc"),
                        ("65536", b"65536")):
        via = b"SIP/2.0/{P} 127.0.0.1:" + port + b";branch=z9hG4bK{N}"
        out.append(_v(f"via-port-{label}-invite", "via", f"INVITE whose Via port is {port.decode()} (no rport)",
                      request(invite, b"sip:{U}@{T}", via=via, body=SDP), Expect.ANY))
        out.append(_v(f"via-port-{label}-options", "via", f"OPTIONS whose Via port is {port.decode()} (no rport)",
                      request(b"OPTIONS", b"sip:{T}", via=via), Expect.ANY))
    out.append(_v("via-port-99999-rport", "via", "Via port 99999 with rport: the answer goes to the source",
                  request(invite, b"sip:{U}@{T}", via=b"SIP/2.0/{P} {D}:99999;branch=z9hG4bK{N};rport", body=SDP),
                  Expect.ANY))
    out.append(_v("via-no-host", "via", "Via without a host", request(
        b"OPTIONS", b"sip:{T}", via=b"SIP/2.0/{P} ;branch=z9hG4bK{N}"), Expect.REJECT))
    out.append(_v("via-bad-protocol", "via", "Via with a garbage protocol", request(
        b"OPTIONS", b"sip:{T}", via=b"XYZ/9/{P} {L};branch=z9hG4bK{N}"), Expect.REJECT))
    out.append(_v("via-huge-host", "via", "Via host of 2,000 characters", request(
        b"OPTIONS", b"sip:{T}", via=b"SIP/2.0/{P} " + b"a" * 2000 + b".invalid;branch=z9hG4bK{N}"), Expect.ANY))

    # ---- encodings: invalid UTF-8 and NUL octets (issue 19 item 8)
    enc = [
        ("utf8-from-user-invite", "invalid UTF-8 in the From user (INVITE)",
         request(invite, b"sip:{U}@{T}", frm=b"<sip:al" + bad_utf8 + b"ice@{D}>;tag=f{N}", body=SDP)),
        ("utf8-from-user-register", "invalid UTF-8 in the From/To user (REGISTER)",
         request(b"REGISTER", b"sip:{D}", frm=b"<sip:b" + bad_utf8 + b"@{D}>;tag=f{N}",
                 to=b"<sip:b" + bad_utf8 + b"@{D}>")),
        ("utf8-from-display", "invalid UTF-8 in the From display name",
         request(invite, b"sip:{U}@{T}", frm=b'"Al' + bad_utf8 + b'" <sip:alice@{D}>;tag=f{N}', body=SDP)),
        ("utf8-to-user", "invalid UTF-8 in the To user and Request-URI user",
         request(invite, b"sip:1" + bad_utf8 + b"@{T}", to=b"<sip:1" + bad_utf8 + b"@{D}>", body=SDP)),
        ("utf8-to-display", "invalid UTF-8 in the To display name",
         request(b"OPTIONS", b"sip:{U}@{T}", to=b'"B' + bad_utf8 + b'" <sip:{U}@{D}>')),
        ("utf8-callid", "invalid UTF-8 in the Call-ID", request(invite, b"sip:{U}@{T}",
                                                                 callid=b"{N}" + bad_utf8, body=SDP)),
        ("utf8-header-value", "invalid UTF-8 in an unknown header and in X-Info",
         request(invite, b"sip:{U}@{T}", extra=(b"X-Info-CompanyId: " + bad_utf8, b"Subject: " + bad_utf8),
                 body=SDP)),
        ("latin1-body", "SDP body with non-UTF-8 octets", request(invite, b"sip:{U}@{T}",
                                                                  body=SDP + b"s=caf\xe9\xff\r\n")),
        ("nul-method", "NUL octet in the method", request(b"INV\x00ITE", b"sip:{U}@{T}", body=SDP)),
        ("nul-method-options", "NUL octet in an OPTIONS method", request(b"OPT\x00IONS", b"sip:{T}")),
        ("nul-header-name", "NUL octet in a header name", request(b"OPTIONS", b"sip:{T}",
                                                                  extra=(b"X-Fo\x00o: bar",))),
        ("nul-header-value", "NUL octet in a header value", request(b"OPTIONS", b"sip:{T}",
                                                                    extra=(b"Subject: a\x00b",))),
        ("nul-from-user", "NUL octet in the From user (INVITE)",
         request(invite, b"sip:{U}@{T}", frm=b"<sip:ali\x00ce@{D}>;tag=f{N}", body=SDP)),
        ("nul-ruri", "NUL octet in the Request-URI", request(invite, b"sip:10\x002@{T}", body=SDP)),
        ("nul-body", "NUL octets in the body", request(b"MESSAGE", b"sip:{U}@{T}", body=b"a\x00\x00b")),
    ]
    out += [_v(n, "encoding", w, d, Expect.REJECT if n.startswith("nul-") and "body" not in n else Expect.ANY)
            for n, w, d in enc]

    # ---- sizes: datagrams over 8,192 bytes, long lines, many headers
    pad = lambda n: b"X-Pad: " + b"p" * n  # noqa: E731
    out.append(_v("size-9k-invite", "size", "INVITE of ~9 KB (a datagram over 8,192 bytes)",
                  request(invite, b"sip:{U}@{T}", extra=(pad(9000),), body=SDP), Expect.ANSWER))
    out.append(_v("size-60k-options", "size", "OPTIONS of ~60 KB", request(
        b"OPTIONS", b"sip:{T}", extra=tuple(pad(990) for _ in range(60))), Expect.ANSWER))
    out.append(_v("size-60k-header-line", "size", "one header line of 60,000 characters (UDP)",
                  request(b"OPTIONS", b"sip:{T}", extra=(pad(60000),)), Expect.ANY, tcp=False))
    out.append(_v("size-100k-header-line", "size", "one header line of 100,000 characters (TCP)",
                  request(b"OPTIONS", b"sip:{T}", extra=(pad(100000),)), Expect.ANY, udp=False))
    out.append(_v("size-10000-headers", "size", "10,000 header fields",
                  request(b"OPTIONS", b"sip:{T}", extra=tuple(b"X:1" for _ in range(10000))), Expect.ANY))
    out.append(_v("size-300k-tcp", "size", "an INVITE of ~300 KB over TCP",
                  request(invite, b"sip:{U}@{T}", extra=tuple(pad(1000) for _ in range(300)), body=SDP),
                  Expect.ANY, udp=False))
    out.append(_v("size-long-ruri", "size", "Request-URI of 20,000 characters",
                  request(invite, b"sip:" + b"9" * 20000 + b"@{T}", body=SDP), Expect.ANY))
    out.append(_v("size-many-vias", "size", "500 Via headers", request(
        b"OPTIONS", b"sip:{T}", extra=tuple(b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKv%d" % i
                                           for i in range(500))), Expect.ANY))

    # ---- framing: truncation, Content-Length, garbage, keepalives
    full = request(invite, b"sip:{U}@{T}", body=SDP)
    out.append(_v("trunc-in-headers", "framing", "message cut inside the header section", full[:120], Expect.ANY))
    out.append(_v("trunc-in-start-line", "framing", "message cut inside the request line", b"INVITE sip:1", Expect.ANY))
    out.append(_v("trunc-in-body", "framing", "body shorter than Content-Length (cut datagram)", full[:-20], Expect.REJECT))
    out.append(_v("cl-larger", "framing", "Content-Length 5,000 for a 10-byte body",
                  request(b"MESSAGE", b"sip:{U}@{T}", body=b"0123456789", content_length=b"5000"), Expect.REJECT))
    out.append(_v("cl-smaller", "framing", "Content-Length 3 for a 10-byte body",
                  request(b"MESSAGE", b"sip:{U}@{T}", body=b"0123456789", content_length=b"3"), Expect.ANY))
    out.append(_v("cl-nonnumeric", "framing", "Content-Length: abc",
                  request(b"OPTIONS", b"sip:{T}", content_length=b"abc"), Expect.REJECT))
    out.append(_v("cl-huge", "framing", "Content-Length: 99999999999999999999",
                  request(b"OPTIONS", b"sip:{T}", content_length=b"99999999999999999999"), Expect.REJECT))
    out.append(_v("garbage", "framing", "700 random octets", garbage, Expect.ANY))
    out.append(_v("garbage-sip-prefix", "framing", "'SIP/2.0' and random octets", b"SIP/2.0 " + garbage[:200],
                  Expect.SILENT))
    out.append(_v("keepalive-crlf", "framing", "CRLF keepalive (RFC 5626 §3.5.1)", b"\r\n", Expect.ANY))
    out.append(_v("keepalive-double-crlf", "framing", "double-CRLF keepalive ping", b"\r\n\r\n", Expect.ANY))
    out.append(_v("only-request-line", "framing", "a request line and nothing else",
                  b"OPTIONS sip:{T} SIP/2.0\r\n\r\n", Expect.REJECT))
    out.append(_v("bare-lf", "framing", "LF line ends instead of CRLF",
                  request(b"OPTIONS", b"sip:{T}").replace(b"\r\n", b"\n"), Expect.ANY))
    out.append(_v("header-no-colon", "framing", "a header line without a colon",
                  request(b"OPTIONS", b"sip:{T}", extra=(b"This line has no colon",)), Expect.ANY))

    # ---- missing or broken mandatory headers (RFC 3261 §8.1.1)
    for h in (b"Call-ID", b"CSeq", b"From", b"To", b"Via"):
        out.append(_v(f"missing-{h.decode().lower()}", "headers", f"INVITE without {h.decode()}",
                      request(invite, b"sip:{U}@{T}", drop=(h,), body=SDP),
                      Expect.REJECT if h != b"Via" else Expect.SILENT, source="RFC 3261 §8.1.1"))
    out.append(_v("missing-max-forwards", "headers", "OPTIONS without Max-Forwards (accepted by RFC 3261 §16.3)",
                  request(b"OPTIONS", b"sip:{T}", maxfwd=None), Expect.ANSWER, source="RFC 3261 §16.3"))
    out.append(_v("max-forwards-0-invite", "headers", "INVITE with Max-Forwards: 0",
                  request(invite, b"sip:{U}@{T}", maxfwd=b"0", body=SDP), Expect.ANSWER))
    out.append(_v("max-forwards-0-options-user", "headers", "OPTIONS to a user with Max-Forwards: 0",
                  request(b"OPTIONS", b"sip:{U}@{T}", maxfwd=b"0"), Expect.ANSWER))
    out.append(_v("max-forwards-huge", "headers", "Max-Forwards: 99999999999999999999",
                  request(b"OPTIONS", b"sip:{T}", maxfwd=b"99999999999999999999"), Expect.ANY))
    out.append(_v("cseq-nonnumeric", "headers", "CSeq: abc INVITE", request(invite, b"sip:{U}@{T}", cseq=b"abc INVITE",
                                                                           body=SDP), Expect.REJECT))
    out.append(_v("cseq-overflow", "headers", "CSeq number of 2^64",
                  request(invite, b"sip:{U}@{T}", cseq=b"18446744073709551616 INVITE", body=SDP), Expect.REJECT))
    out.append(_v("from-no-uri", "headers", "From: garbage", request(invite, b"sip:{U}@{T}", frm=b"<<>>;tag=;",
                                                                    body=SDP), Expect.REJECT))
    out.append(_v("to-bad-uri", "headers", "To with an unclosed <", request(invite, b"sip:{U}@{T}",
                                                                           to=b"<sip:{U}@{D}", body=SDP), Expect.REJECT))
    out.append(_v("x-info-injection", "headers", "X-Info-* headers with huge and non-numeric values",
                  request(invite, b"sip:{U}@{T}", extra=(b"X-Info-BrandId: 99999999999999999999999",
                                                          b"X-Info-CompanyId: -1e9999", b"X-Info-UserId: abc"),
                          body=SDP), Expect.ANY))

    # ---- transactions and dialogs that do not exist; odd schemes; unsolicited responses
    for method in (b"INVITE", b"MESSAGE", b"OPTIONS", b"BYE", b"NOTIFY"):
        body = SDP if method == b"INVITE" else b""
        extra: tuple[bytes, ...] = (b"Route: <sip:{T};lr>",) + ((b"Event: dialog",) if method == b"NOTIFY" else ())
        out.append(_v(f"indialog-relay-{method.decode().lower()}", "dialog",
                      f"{method.decode()} with a To-tag and Route to the target, R-URI elsewhere (no dialog)",
                      request(method, b"sip:victim@{S}", to=b"<sip:victim@{D}>;tag=nodialog{N}", extra=extra,
                              body=body), Expect.ANY, relay_probe=True))
    out.append(_v("indialog-no-route-bye", "dialog", "BYE with a To-tag and no Route (no such dialog)",
                  request(b"BYE", b"sip:{U}@{T}", to=b"<sip:{U}@{D}>;tag=nodialog{N}"), Expect.REJECT))
    out.append(_v("cancel-no-transaction", "dialog", "CANCEL matching no transaction",
                  request(b"CANCEL", b"sip:{U}@{T}"), Expect.REJECT))
    out.append(_v("ack-no-transaction", "dialog", "ACK matching no transaction",
                  request(b"ACK", b"sip:{U}@{T}", to=b"<sip:{U}@{D}>;tag=nodialog{N}"), Expect.SILENT))
    out.append(_v("ack-no-transaction-relay", "dialog", "ACK with Route to the target and R-URI elsewhere",
                  request(b"ACK", b"sip:victim@{S}", to=b"<sip:victim@{D}>;tag=nodialog{N}",
                          extra=(b"Route: <sip:{T};lr>",)), Expect.SILENT, relay_probe=True))
    out.append(_v("unknown-scheme", "dialog", "Request-URI with an unknown scheme",
                  request(invite, b"xyz:whatever@{T}", body=SDP), Expect.REJECT, source="RFC 3261 §16.3"))
    out.append(_v("tel-uri", "dialog", "tel: Request-URI", request(invite, b"tel:+34911234567", body=SDP), Expect.ANY))
    out.append(_v("sips-over-plain", "dialog", "sips: Request-URI over a plain transport",
                  request(invite, b"sips:{U}@{T}", body=SDP), Expect.ANY))
    out.append(_v("unsolicited-200", "dialog", "SIP/2.0 200 OK matching no transaction (top Via = target)",
                  b"SIP/2.0 200 OK\r\nVia: SIP/2.0/{P} {T};branch=z9hG4bK{N}\r\n"
                  b"Via: SIP/2.0/{P} {S};branch=z9hG4bKs{N}\r\nFrom: <sip:a@{D}>;tag=a{N}\r\n"
                  b"To: <sip:b@{D}>;tag=b{N}\r\nCall-ID: {N}@torture\r\nCSeq: 1 INVITE\r\n"
                  b"Contact: <sip:b@{L}>\r\nContent-Length: 0\r\n\r\n", Expect.SILENT, relay_probe=True))
    out.append(_v("unsolicited-180-foreign-via", "dialog", "SIP/2.0 180 whose only Via is someone else",
                  b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/{P} {S};branch=z9hG4bK{N}\r\nFrom: <sip:a@{D}>;tag=a\r\n"
                  b"To: <sip:b@{D}>;tag=b\r\nCall-ID: {N}@torture\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                  Expect.SILENT, relay_probe=True))
    out.append(_v("unknown-method", "dialog", "an unknown method", request(b"FROBNICATE", b"sip:{U}@{T}"), Expect.ANSWER))
    return out


def authenticated() -> list[Torture]:
    """Requests of a tenant's endpoint, answered to the digest challenge, whose numbers, caller
    identities and bodies are what the routing behind authentication (numbering, rtpengine offers,
    registrar) has to survive."""
    invite = b"INVITE"
    frm = b"<sip:{A}@{D}>;tag=f{N}"
    bad_utf8 = b"\xff\xfe\xc3\x28"

    def inv(name: str, what: str, expect: Expect, ruri: bytes = b"sip:{U}@{T}", body: bytes = SDP,
            **kw: object) -> Torture:
        kw.setdefault("frm", frm)
        kw.setdefault("to", b"<sip:{U}@{D}>")
        must = kw.pop("must", ())
        return Torture(name=name, family="authenticated", source="issue 19", what=what,
                       data=request(invite, ruri, body=body, **kw), expect=expect, auth=True,  # type: ignore[arg-type]
                       must=must)  # type: ignore[arg-type]

    def reg(name: str, what: str, expect: Expect, contact: bytes, extra: tuple[bytes, ...] = ()) -> Torture:
        data = request(b"REGISTER", b"sip:{D}", frm=frm, to=b"<sip:{A}@{D}>", extra=(b"Contact: " + contact, *extra))
        data = data.replace(b"Contact: <sip:torture@{L}>\r\n", b"", 1)
        return Torture(name=name, family="authenticated", source="RFC 3261 §10.3", what=what, data=data,
                       expect=expect, auth=True)

    sdp_lines = b"".join(b"a=x-pad:%d %s\r\n" % (i, b"p" * 20) for i in range(300))
    return [
        # an offer that cannot be parsed is the caller's fault: 400/488, not a server failure (5xx)
        inv("auth-sdp-garbage", "SDP body that is not SDP (NUL, non-UTF-8, no m= port)", Expect.REJECT,
            body=b"v=0\r\nthis is not sdp\x00\xff\r\nm=audio abc RTP/AVP x\r\n"),
        inv("auth-sdp-bad-address", "SDP with c=IN IP4 999.999.1.1 and m= port 99999", Expect.REJECT,
            body=SDP.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 999.999.1.1").replace(b"audio 9 ", b"audio 99999 ")),
        inv("auth-sdp-ip6-garbage", "SDP with c=IN IP6 ::zz", Expect.REJECT,
            body=SDP.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP6 ::zz")),
        inv("auth-sdp-large", "SDP of ~9 KB (300 attributes)", Expect.ANY, body=SDP + sdp_lines),
        inv("auth-number-20k", "a 20,000-digit number", Expect.ANSWER, ruri=b"sip:" + b"9" * 20000 + b"@{T}",
            to=b"<sip:" + b"9" * 20000 + b"@{D}>"),
        inv("auth-number-plus", "the number '+'", Expect.ANSWER, ruri=b"sip:+@{T}", to=b"<sip:+@{D}>"),
        inv("auth-number-bad-utf8", "a number with invalid UTF-8", Expect.ANY, ruri=b"sip:9" + bad_utf8 + b"@{T}",
            to=b"<sip:9" + bad_utf8 + b"@{D}>"),
        inv("auth-number-escaped-nul", "a number with an escaped NUL (%00)", Expect.ANY, ruri=b"sip:12%003@{T}"),
        inv("auth-number-quote", "a number with quotes and escaped spaces", Expect.ANSWER,
            ruri=b"sip:1'%20OR%20'1'='1@{T}"),
        inv("auth-number-service-code", "a service-code-like number *99*abc", Expect.ANSWER, ruri=b"sip:*99*abc@{T}"),
        inv("auth-number-unicode-digits", "Arabic-Indic digits as the number", Expect.ANY,
            ruri="sip:\u0661\u0660\u0662@{T}".encode()),
        inv("auth-to-display-10k", "a To display name of 10,000 characters", Expect.ANY,
            to=b'"' + b"x" * 10000 + b'" <sip:{U}@{D}>'),
        # an old phone's Latin-1 caller name: the call goes through to the callee (who is busy)
        inv("auth-from-display-bad-utf8", "a From display name with invalid UTF-8 (caller name)", Expect.ANSWER,
            frm=b'"Al' + bad_utf8 + b'" <sip:{A}@{D}>;tag=f{N}', must=(486,)),
        inv("auth-pai-garbage", "P-Asserted-Identity that is no URI", Expect.ANY,
            extra=(b"P-Asserted-Identity: <sip:\xff@>;;;",)),
        inv("auth-diversion-garbage", "Diversion with a 3,000-character reason and a 2^64 counter", Expect.ANY,
            extra=(b"Diversion: <sip:+@{D}>;reason=" + b"x" * 3000 + b";counter=18446744073709551616",)),
        inv("auth-privacy-garbage", "Privacy: id;header;;critical;\\xff", Expect.ANY,
            extra=(b"Privacy: id;header;;critical;" + bad_utf8,)),
        inv("auth-x-info-spoof", "X-Info-* headers the caller must not set", Expect.ANY,
            extra=(b"X-Info-CompanyId: 99999999999999999999", b"X-Info-BrandId: -1", b"X-Info-Type: \xff")),
        inv("auth-max-forwards-0", "INVITE with Max-Forwards: 0", Expect.ANSWER, maxfwd=b"0"),
        inv("auth-expires-huge", "INVITE with Expires: 2^64", Expect.ANY, extra=(b"Expires: 18446744073709551616",)),
        reg("auth-register-expires-huge", "REGISTER with Expires: 2^64", Expect.ANY, b"<sip:{A}@{L}>",
            (b"Expires: 18446744073709551616",)),
        reg("auth-register-expires-negative", "REGISTER with a contact ;expires=-1", Expect.ANY,
            b"<sip:{A}@{L}>;expires=-1"),
        reg("auth-register-star-nonzero", "REGISTER Contact: * with Expires: 3600", Expect.REJECT, b"*",
            (b"Expires: 3600",)),
        reg("auth-register-contact-garbage", "REGISTER with a contact of invalid UTF-8, bad IPv6 and port",
            Expect.REJECT, b"<sip:\xff@[::zz]:99999>"),
        reg("auth-register-100-contacts", "REGISTER with 100 contacts", Expect.ANY,
            b", ".join(b"<sip:{A}%d@{L}>" % i for i in range(100))),
        reg("auth-register-remove-all", "REGISTER Contact: * Expires: 0 (removes what the others stored)",
            Expect.ANSWER, b"*", (b"Expires: 0",)),
    ]


def corpus() -> list[Torture]:
    return rfc_messages() + variants() + authenticated()


FAMILIES = ["rfc4475-valid", "rfc4475-invalid", "rfc4475-semantics", "via", "encoding", "size", "framing",
            "headers", "dialog", "authenticated"]


def render(t: Torture, *, target: str, local: str, domain: str, sink: str, token: str, proto: str,
           number: str, user: str = "torture") -> bytes:
    """The bytes of one send of ``t`` (see the module doc for the placeholders)."""
    data = adapt_rfc(t.data) if t.rfc else t.data
    return (data.replace(b"{U}", number.encode()).replace(b"{A}", user.encode()).replace(b"{T}", target.encode()).replace(b"{L}", local.encode())
            .replace(b"{D}", domain.encode()).replace(b"{S}", sink.encode()).replace(b"{N}", token.encode())
            .replace(b"{P}", proto.encode()))
