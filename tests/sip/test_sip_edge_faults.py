"""SIP edge faults (issue 19 item 8): bytes that are not UTF-8 in URIs and NUL bytes in the
method get a 400 with a reason (or silence), never a 500, from both proxies; such requests are
counted by proxy-users' anti-flood like any unidentified request."""

from __future__ import annotations

import random
import socket
import time
import uuid

from sqlalchemy import select

from polyvox.db.model import ENTITY
from tests.sip.conftest import DOMAIN, Platform, Trunks
from tests.sip.ua import sdp


def exchange(sock: socket.socket, proxy: tuple[str, int], data: bytes, wait: float = 2.0) -> bytes | None:
    sock.sendto(data, proxy)
    sock.settimeout(wait)
    try:
        while True:
            got = sock.recv(65535)
            if not got.startswith(b"SIP/2.0 100"):
                return got
    except TimeoutError:
        return None


def request(sock: socket.socket, method: bytes, from_user: bytes, ruri_user: bytes = b"102",
            domain: str = DOMAIN, port: int = 5060) -> bytes:
    host, lport = sock.getsockname()
    cid = uuid.uuid4().hex.encode()
    return (method + b" sip:" + ruri_user + f"@{domain} SIP/2.0\r\n".encode()
            + f"Via: SIP/2.0/UDP {host}:{lport};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n".encode()
            + b"Max-Forwards: 70\r\n"
            + b"From: <sip:" + from_user + f"@{domain}>;tag=f1\r\n".encode()
            + f"To: <sip:102@{domain}>\r\n".encode()
            + b"Call-ID: " + cid + b"\r\n"
            + b"CSeq: 1 " + (method if b"\x00" not in method else b"INVITE") + b"\r\n"
            + f"Contact: <sip:x@{host}:{lport}>\r\nContent-Length: 0\r\n\r\n".encode())


def status_of(data: bytes | None) -> tuple[int, str] | None:
    if data is None:
        return None
    first = data.split(b"\r\n", 1)[0].decode(errors="replace")
    _v, code, reason = first.split(" ", 2)
    return int(code), reason


def alive(proxy: tuple[str, int]) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        msg = (f"OPTIONS sip:{proxy[0]}:{proxy[1]} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{s.getsockname()[1]};"
               f"branch=z9hG4bK{uuid.uuid4().hex[:10]}\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:{proxy[0]}>\r\n"
               f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        return status_of(exchange(s, proxy, msg.encode())) == (200, "Keepalive")


BAD_USERS = (b"\xff\xfe\xfa", b"al\xc3ice\x80", b"a\x00b")


def test_proxy_users_answers_undecodable_uris_with_400(pv: Platform) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for user in BAD_USERS:
            for method in (b"INVITE", b"REGISTER", b"MESSAGE"):
                got = status_of(exchange(s, pv.proxy, request(s, method, user)))
                assert got is None or got[0] == 400, (method, user, got)
                if got is not None:
                    assert got[1].strip(), got  # a reason: ours or sanity's ("Invalid From Header")
            got = status_of(exchange(s, pv.proxy, request(s, b"INVITE", b"alice", ruri_user=b"10\xff2")))
            assert got == (400, "Bad Request: invalid characters in R-URI")
        got = status_of(exchange(s, pv.proxy, request(s, b"INV\x00ITE", b"alice")))
        assert got is None or got[0] == 400, got
        nul_subject = request(s, b"OPTIONS", b"alice").replace(b"Max-Forwards: 70\r\n",
                                                                 b"Max-Forwards: 70\r\nSubject: a\x00b\r\n")
        got = status_of(exchange(s, pv.proxy, nul_subject))
        assert got == (400, "Bad Request: NUL in header"), got
    assert alive(pv.proxy)
    assert "Traceback" not in pv.kamailio.tail(400) and "UnicodeDecodeError" not in pv.kamailio.tail(400)


def test_proxy_trunks_answers_a_nul_method_and_undecodable_uris_with_400(trunks: Trunks) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for method in (b"INV\x00ITE", b"OPT\x00IONS", b"\x00"):
            got = status_of(exchange(s, trunks.proxy, request(s, method, b"alice")))
            assert got is None or got[0] == 400, (method, got)
        for user in BAD_USERS:
            got = status_of(exchange(s, trunks.proxy, request(s, b"INVITE", user)))
            # sanity_check refuses the NUL byte itself ("Invalid From Header"), the proxy the rest
            assert got is not None and got[0] == 400 and got[1].strip(), (user, got)
            if b"\x00" not in user:
                assert got == (400, "Bad Request: invalid characters in From"), (user, got)
    assert alive(trunks.proxy)
    assert "UnicodeDecodeError" not in trunks.kamailio.tail(400)


def test_undecodable_requests_count_for_anti_flood(pv: Platform) -> None:
    """More than flood_density such requests within flood_sampling seconds from one address: that
    address is ignored (no reply) and listed as an anti-flood ban; other addresses still work."""
    ip = f"127.0.{random.randrange(10, 250)}.{random.randrange(2, 250)}"
    banned = ENTITY["BannedAddress"].table
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        silent = 0
        for _ in range(pv.settings.flood_density + 40):
            s.sendto(request(s, b"INVITE", b"\xff\xfe"), pv.proxy)
        deadline = time.monotonic() + 3
        answers = 0
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            try:
                s.recv(65535)
                answers += 1
            except TimeoutError:
                break
        assert answers < pv.settings.flood_density + 40, "every flooding request was answered"
        silent = 0 if status_of(exchange(s, pv.proxy, request(s, b"INVITE", b"\xff\xfe"), 1.0)) else 1
        assert silent == 1, "the flooding address is still answered"
    deadline = time.monotonic() + 5
    rows: list = []  # type: ignore[type-arg]
    while not rows and time.monotonic() < deadline:
        with pv.engine.connect() as c:
            rows = c.execute(select(banned.c.ip, banned.c.blocker).where(banned.c.ip == ip)).all()
        time.sleep(0.2)
    assert [(r.ip, r.blocker) for r in rows] == [(ip, "antiflood")]
    assert alive(pv.proxy)


def test_proxy_users_answers_bad_contacts_long_uris_bad_sdp_and_register_errors_once(pv: Platform) -> None:
    from tests.sip.conftest import ALICE_PW

    alice = pv.ua("alice", ALICE_PW)
    # Contact that cannot reach anyone: 400 before anything is stored
    r = alice.register(contact="<sip:alice@[::zz]:99999>")
    assert (r.status, r.reason) == (400, "Bad Request: invalid Contact")
    # a REGISTER the registrar refuses gets its answer once (no second 500)
    r = alice.register(expires=3600, contact="*")
    assert r.status == 400
    assert [m.status for m in alice.drain(0.5) if not m.is_request] == []
    # a 3,000-digit number
    d = alice.invite("1" * 3000, body=sdp(40000), auth=False)
    assert d.answer is not None and (d.answer.status, d.answer.reason) == (414, "Request-URI Too Long")
    # an SDP offer rtpengine cannot parse is the caller's fault: 488, not 503
    bad = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 999.999.1.1\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n"
    d = alice.invite("102", body=bad)
    assert d.answer is not None and (d.answer.status, d.answer.reason) == (488, "Not Acceptable Here: invalid SDP")
    assert alive(pv.proxy)
