"""SIP torture suite (issue 19): RFC 4475's messages and malformed variants sent over UDP and
TCP to proxy-users, proxy-trunks and an application server, batch by batch; after each batch the
target must answer OPTIONS, still run, carry a real call and have logged no Python traceback.

What is sent and what each message must get is in ``tests/sip/torture/corpus.py``; how the suite
works and how to add a message is in ``docs/testing-robustness.md``. Every send records the status
codes that came back; the figures of a run (messages, answers, 5xx, missing answers, crashes,
hangs, tracebacks) go to ``torture-report.json`` in the session's temporary directory (or
``$POLYVOX_TORTURE_REPORT``) and to stdout.

Sources: each batch comes from its own loopback address (127.19.<target>.<batch>) so that the
proxies' anti-flood never bans the addresses the other SIP tests use; proxy-trunks knows these
addresses as a DDI provider's, the way a carrier reaches it. The application server is tortured
once from the address it trusts as proxy-users (a test socket it was started with) and once from
a foreign address. The "authenticated" family reaches the routing behind the caller check: on
proxy-users from a terminal of the suite's own answering the digest challenge, on proxy-trunks from
the application-server address it trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import selectors
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.sip.conftest import ALICE_PW, DOMAIN, Platform, Proc, Trunks, _wait_ready, free_port
from tests.sip.fixtures_appserver import PLAN, ROOT, TEST_DIALPLAN, _Proc
from tests.sip.test_trunks import SPAIN_OUT, as_ua, call_out, data, finish  # noqa: F401 (data: fixture)
from tests.sip.torture.corpus import FAMILIES, Expect, Torture, corpus, render
from tests.sip.ua import UA, Message, sdp

MIN_WAIT = 0.5  # s of listening after a batch for answers nobody must give (500s, relays)
MAX_WAIT = 5.0  # s after a batch within which every due final answer must have come
TRACEBACK = "Traceback (most recent call last)"
STATUS = re.compile(rb"^SIP/2\.0 (\d{3})[ \r]", re.M)
CALLID = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]*)", re.M | re.I)
CORPUS = corpus()


# ----------------------------------------------------------------------------- sending
@dataclass
class Shot:
    """One send of one message and what came back."""

    t: Torture
    data: bytes = b""
    sock: socket.socket | None = None
    callid: bytes | None = None
    received: bytearray = field(default_factory=bytearray)
    codes: list[int] = field(default_factory=list)
    error: str = ""  # a local send error (datagram too large, connection refused...)
    closed: bool = False  # TCP: the target closed the connection

    def finals(self) -> list[int]:
        return [c for c in self.codes if c >= 200]


def _callid(raw: bytes) -> bytes | None:
    m = CALLID.search(raw.partition(b"\r\n\r\n")[0])
    return m.group(1).strip() if m else None


# RFC 4475 messages Kamailio 5.6 (Debian 12) itself cannot parse: it drops them before, or while,
# the routing script runs, and cannot build a reply for them (its core needs every header parsed to
# build one). Silence is the best a proxy built on it can do; everything else still applies.
KAMAILIO_LIMITS = {
    "rfc4475-wsinv": "core parser fails on the folded Via protocol tokens (receive_msg: core parsing failed)",
    "rfc4475-intmeth": "header name 'extensionHeader-!.%*+_`'~' refused by parse_sip_header_name",
    "rfc4475-esc02": "header name 'C%6Fntact' refused by parse_sip_header_name",
}


def verdict(s: Shot, relayed: bool, kamailio: bool) -> str:
    """Why this shot fails, or "" (see docs/testing-robustness.md for the rules)."""
    t, codes, finals = s.t, s.codes, s.finals()
    if relayed:
        return ("forwarded an unsolicited response to its next Via" if s.data.startswith(b"SIP/")
                else "relayed to the address in its Request-URI (open relay)")
    if t.expect is Expect.SILENT and codes:
        # a response that matches no transaction comes back only if the target forwarded it (here
        # its next Via is the sender); nothing answers an ACK
        return f"answered or forwarded a message owed nothing ({codes})"
    if 500 in codes:
        return "500"
    if t.expect is Expect.ANSWER and not finals and not (kamailio and t.name in KAMAILIO_LIMITS):
        return "no final answer" + (f" (only {codes})" if codes else "") + (" (connection closed)" if s.closed else "")
    if t.must and finals and not set(finals) & set(t.must):
        return f"answered {finals} where {list(t.must)} (the call reaching its callee) is due"
    if t.expect is Expect.REJECT:
        bad = [c for c in finals if not (400 <= c < 500 or c in t.also)]
        if bad:
            return f"answered {bad} where RFC 4475/RFC 3261 require a rejection (4xx) or silence"
    return ""


@dataclass
class Target:
    """One thing to torture: an address, a transport, the process behind it, where its log is,
    and how to prove it still works."""

    key: str  # report key, e.g. "proxy-users/udp"
    addr: tuple[str, int]
    transport: str  # "UDP" / "TCP"
    proc: Proc
    ips: Callable[[int], str]  # batch index -> source address
    number: str  # the number the variants dial
    call: Callable[[], None]  # a real call through the target; raises on failure
    kamailio: bool = False  # a Kamailio proxy (KAMAILIO_LIMITS apply)
    single: UA | None = None  # send everything from this socket (the address the target trusts)
    insert: bytes = b""  # headers inserted after the start line of requests (context a proxy adds)
    credentials: tuple[str, str] | None = None  # endpoint answering the digest challenges (family "authenticated")
    auth_number: str = ""  # the number the "authenticated" family dials (default: ``number``)
    peers: tuple[UA, ...] = ()  # test UAs the target sends calls to: they answer 486 during a batch
    trusted: UA | None = None  # a peer the target trusts: the "authenticated" family comes from it...
    trusted_insert: bytes = b""  # ...with the context headers that peer adds

    def takes(self, t: Torture) -> bool:
        tcp = self.transport == "TCP"
        if (tcp and not t.tcp) or (not tcp and not t.udp):
            return False
        return not t.auth or self.credentials is not None or self.single is not None or self.trusted is not None

    def for_family(self, family: str) -> Target:
        """The trusted peer sends the "authenticated" family where no credentials exist (proxy-trunks
        trusts the application server by address, the way the platform reaches it)."""
        if family == "authenticated" and self.credentials is None and self.trusted is not None:
            return replace(self, single=self.trusted, insert=self.trusted_insert, transport="UDP")
        return self


class Sink:
    """A socket that must receive nothing: the Request-URI of the open-relay probes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.19.9.9", 0))
        self.sock.setblocking(False)
        self.addr = "{}:{}".format(*self.sock.getsockname())

    def read(self) -> list[bytes]:
        got = []
        while True:
            try:
                got.append(self.sock.recv(70000))
            except BlockingIOError:
                return got

    def close(self) -> None:
        self.sock.close()


def fire(target: Target, batch: list[Torture], ip: str, sink: Sink) -> list[Shot]:
    """Sends ``batch`` to ``target`` and collects what comes back within the bounded wait."""
    shots: list[Shot] = []
    sel = selectors.DefaultSelector()
    tcp = target.transport == "TCP"
    for t in batch:
        s = Shot(t)
        token = uuid.uuid4().hex[:16]
        if target.single is not None:
            sock = target.single.sock
            local = f"{target.single.host}:{target.single.port}"
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
            sock.bind((ip, 0))
            local = "{}:{}".format(*sock.getsockname())
            s.sock = sock
        user = target.credentials[0] if target.credentials else "alice"
        number = target.auth_number if t.auth and target.auth_number else target.number
        s.data = render(t, target=f"{target.addr[0]}:{target.addr[1]}", local=local, domain=DOMAIN,
                        sink=sink.addr, token=token, proto=target.transport, number=number, user=user)
        if target.insert and not s.data.startswith(b"SIP/") and b"\r\n" in s.data:
            first, _, rest = s.data.partition(b"\r\n")
            s.data = first + b"\r\n" + target.insert + rest
        s.callid = _callid(s.data)
        try:
            if tcp:
                sock.settimeout(2.0)
                sock.connect(target.addr)
                sock.sendall(s.data)
            else:
                sock.sendto(s.data, target.addr)
        except TimeoutError:
            s.error = "send stalled (the target stopped reading)"
        except OSError as e:
            s.error = f"{type(e).__name__}: {e}"
        if t.auth and target.credentials and not s.error:
            authenticate(s, sock, target, token)
        if s.sock is not None:
            s.sock.setblocking(False)
            sel.register(s.sock, selectors.EVENT_READ, s)
        shots.append(s)
        time.sleep(0.02 if len(s.data) > 8000 else 0.004)  # no socket-buffer overrun at the target
        for peer in target.peers:  # well inside the target's fail-over timer
            busy(peer)
    if target.single is not None:
        target.single.sock.setblocking(False)
        sel.register(target.single.sock, selectors.EVENT_READ, None)
    start = time.monotonic()
    by_callid = {s.callid: s for s in shots if s.callid}
    try:
        while True:
            waited = time.monotonic() - start
            due = [s for s in shots if s.t.expect is Expect.ANSWER and not s.finals() and not s.closed and not s.error]
            if waited >= MAX_WAIT or (waited >= MIN_WAIT and not due):
                break
            for peer in target.peers:
                busy(peer)
            for key, _ in sel.select(timeout=0.05):
                shot: Shot | None = key.data
                try:
                    chunk = key.fileobj.recv(70000)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if shot is None:  # the shared socket: attribute by Call-ID
                    if target.single is not None and chunk[:1].isalpha() and not chunk.startswith(b"SIP/"):
                        _busy_reply(target.single, chunk)  # a call the target placed through "its proxy"
                        continue
                    if chunk.startswith(b"SIP/2.0 "):
                        shot = by_callid.get(_callid(chunk) or b"")
                    if shot is None:
                        continue
                if not chunk and tcp:
                    shot.closed = True
                    sel.unregister(key.fileobj)
                    continue
                shot.received += chunk
                shot.codes = [int(c) for c in STATUS.findall(bytes(shot.received))]
    finally:
        sel.close()
        for s in shots:
            if s.sock is not None:
                s.sock.close()
        if target.single is not None:
            target.single.sock.setblocking(True)
    return shots


def authenticate(s: Shot, sock: socket.socket, target: Target, token: str) -> None:
    """Waits for the target's digest challenge to ``s`` and sends ``s`` again with credentials (a
    new branch, the same dialog identifiers), as a phone does. Without a challenge the first
    answer stays the shot's answer."""
    assert target.credentials is not None
    user, password = target.credentials
    got = b""
    deadline = time.monotonic() + 1.0
    while not [c for c in STATUS.findall(got) if int(c) >= 200] and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got += sock.recv(70000)
        except (TimeoutError, OSError):
            break
    if not got:
        return
    status = next((m for m in STATUS.finditer(got) if int(m.group(1)) >= 200), None)
    m = re.search(rb"^(Proxy|WWW)-Authenticate[ \t]*:[ \t]*Digest ([^\r\n]*)", got, re.M | re.I)
    if not status or status.group(1) not in (b"401", b"407") or not m:
        s.received += got
        s.codes = [int(c) for c in STATUS.findall(bytes(s.received))]
        return
    params = dict(re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', m.group(2).decode("latin-1")))
    params = {k: v.strip('"') for k, v in params.items()}
    method, uri = s.data.split(b" ", 2)[:2]

    def md5(b: bytes) -> str:
        return hashlib.md5(b).hexdigest()

    ha1 = md5(f"{user}:{params['realm']}:{password}".encode())
    ha2 = md5(method + b":" + uri)
    cnonce, nc = uuid.uuid4().hex[:8], "00000001"
    parts = [f'username="{user}"', f'realm="{params["realm"]}"', f'nonce="{params["nonce"]}"',
             f'uri="{uri.decode("latin-1")}"', "algorithm=MD5"]
    if "auth" in params.get("qop", "").split(","):
        resp = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:".encode() + ha2.encode())
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        resp = md5(f"{ha1}:{params['nonce']}:{ha2}".encode())
    parts.append(f'response="{resp}"')
    name = b"Proxy-Authorization" if m.group(1).lower() == b"proxy" else b"Authorization"
    header = name + b": Digest " + ", ".join(parts).encode("latin-1") + b"\r\n"
    first, _, rest = s.data.partition(b"\r\n")
    s.data = (first + b"\r\n" + header + rest).replace(b"branch=z9hG4bK" + token.encode(),
                                                      b"branch=z9hG4bK" + token.encode() + b"a", 1)
    try:
        if target.transport == "TCP":
            sock.sendall(s.data)
        else:
            sock.sendto(s.data, target.addr)
    except OSError as e:
        s.error = f"{type(e).__name__}: {e}"


def busy(ua: UA) -> None:
    """Answers 486 to the INVITEs waiting on ``ua`` (a test UA the target routes calls to), so
    that no call of the torture waits for a time-out or marks that peer down."""
    ua.sock.setblocking(False)
    try:
        while True:
            try:
                chunk = ua.sock.recv(70000)
            except BlockingIOError:
                return
            _busy_reply(ua, chunk)
    finally:
        ua.sock.setblocking(True)


def _busy_reply(ua: UA, chunk: bytes, source: tuple[str, int] | None = None) -> None:
    if not chunk.startswith(b"INVITE "):
        return
    msg = Message.parse(chunk, source or ua.proxy)
    try:
        via = msg.values("via")[0]
        host, _, port = via.split()[1].split(";")[0].partition(":")
        received = re.search(r";received=([^;]+)", via)
        rport = re.search(r";rport=(\d+)", via)
        msg.source = (received.group(1) if received else host, int(rport.group(1)) if rport else int(port or 5060))
        ua.respond(msg, 486, "Busy Here")
    except (KeyError, IndexError, ValueError, OSError):
        pass


# ----------------------------------------------------------------------------- health
def options_ok(addr: tuple[str, int]) -> bool:
    """OPTIONS from a fresh loopback socket answered 200 (three tries within ~2 s)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        for _ in range(3):
            msg = (f"OPTIONS sip:{addr[0]}:{addr[1]} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK"
                   f"{uuid.uuid4().hex[:10]};rport\r\nFrom: <sip:health@{DOMAIN}>;tag=h\r\nTo: <sip:{addr[0]}>\r\n"
                   f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            sock.sendto(msg.encode(), addr)
            sock.settimeout(0.7)
            try:
                if sock.recv(4096).startswith(b"SIP/2.0 200"):
                    return True
            except TimeoutError:
                pass
        return False
    finally:
        sock.close()


class LogWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new(self) -> str:
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        return chunk.decode(errors="replace")


def traceback_excerpts(text: str, n: int = 2) -> list[str]:
    out = []
    for m in re.finditer(re.escape(TRACEBACK), text):
        out.append(text[max(0, m.start() - 300):m.start() + 1500])
        if len(out) >= n:
            break
    return out


# ----------------------------------------------------------------------------- the run
@dataclass
class Report:
    key: str
    sent: int = 0
    answered: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    five_xx: int = 0
    status_500: int = 0
    no_answer_due: int = 0
    accepted_invalid: int = 0
    relayed: int = 0
    forwarded_responses: int = 0  # unsolicited responses forwarded to their next Via, ACKs answered
    crashes: int = 0
    hangs: int = 0  # OPTIONS after a batch unanswered
    failed_calls: int = 0
    tracebacks: int = 0
    failures: list[str] = field(default_factory=list)
    messages: dict[str, list[int]] = field(default_factory=dict)  # name -> status codes received

    def figures(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": self.answered, "5xx": self.five_xx, "500": self.status_500,
                "no_answer_where_due": self.no_answer_due, "accepted_invalid": self.accepted_invalid,
                "relayed": self.relayed, "forwarded_responses": self.forwarded_responses, "crashes": self.crashes, "hangs": self.hangs,
                "failed_calls": self.failed_calls, "tracebacks": self.tracebacks,
                "codes": dict(sorted(self.codes.items())), "failures": self.failures, "messages": self.messages}


def run(target: Target) -> Report:
    rep = Report(target.key)
    sink = Sink()
    log = LogWatch(target.proc.log)
    hung = 0  # consecutive batches after which the target answered no OPTIONS
    try:
        for b, family in enumerate(FAMILIES):
            batch = [t for t in CORPUS if t.family == family and target.takes(t)]
            if not batch:
                continue
            shots = fire(target.for_family(family), batch, target.ips(b), sink)
            relayed = sink.read()
            for s in shots:
                rep.sent += 1
                rep.codes.update(s.codes)
                rep.answered += bool(s.codes)
                rep.five_xx += any(500 <= c < 600 for c in s.codes)
                rep.status_500 += 500 in s.codes
                rep.messages[s.t.name] = s.codes
                hit = s.t.relay_probe and any(tok in r for r in relayed for tok in _tokens(s))
                why = verdict(s, hit, target.kamailio)
                if why:
                    rep.no_answer_due += why.startswith("no final answer")
                    rep.accepted_invalid += why.startswith("answered [")
                    rep.relayed += why.startswith("relayed")
                    rep.forwarded_responses += why.startswith(("forwarded", "answered or forwarded"))
                    rep.failures.append(f"[{family}] {s.t.name} ({s.t.source}: {s.t.what}): {why}"
                                        + (f"; send: {s.error}" if s.error else ""))
            # health: the process, OPTIONS, a real call, the log
            if not target.proc.alive():
                rep.crashes += 1
                rep.failures.append(f"[{family}] {target.proc.name} exited after this batch:\n{target.proc.tail(30)}")
                break
            if options_ok(target.addr):
                hung = 0
                try:
                    target.call()
                except Exception as e:  # any failure of the call is the finding
                    rep.failed_calls += 1
                    rep.failures.append(f"[{family}] the real call after this batch failed: {type(e).__name__}: {e}")
            else:  # a target that answers no OPTIONS carries no call either: not waited for
                hung += 1
                rep.hangs += 1
                rep.failed_calls += 1
                rep.failures.append(f"[{family}] OPTIONS to {target.addr} unanswered after this batch (no call tried)")
            text = log.new()
            found = text.count(TRACEBACK)
            if found:
                rep.tracebacks += found
                rep.failures.append(f"[{family}] {found} traceback(s) in {target.proc.log.name}:\n"
                                    + "\n...\n".join(traceback_excerpts(text)))
            if hung >= 2:  # keeps a silenced target's run bounded; the rest would only repeat this
                rep.failures.append(f"[{family}] {target.key} silent after two batches: remaining batches not sent")
                break
    finally:
        sink.close()
    return rep


def _tokens(s: Shot) -> list[bytes]:
    """What identifies this shot in a relayed datagram: its Call-ID."""
    return [s.callid] if s.callid else []


REPORTS: dict[str, Report] = {}


def _write_reports(tmp: Path) -> Path:
    path = Path(os.environ.get("POLYVOX_TORTURE_REPORT") or tmp / "torture-report.json")
    path.write_text(json.dumps({k: r.figures() for k, r in REPORTS.items()}, indent=1))
    return path


def check(rep: Report, tmp: Path) -> None:
    REPORTS[rep.key] = rep
    path = _write_reports(tmp)
    figures = {k: v for k, v in rep.figures().items() if k not in ("failures", "messages")}
    print(f"\ntorture {rep.key}: {json.dumps(figures)} (report: {path})")
    assert rep.sent > 0
    assert not rep.failures, f"{rep.key}: {len(rep.failures)} failure(s)\n" + "\n".join(rep.failures)


# ----------------------------------------------------------------------------- targets
def users_call(pf: Platform, asrv: UA) -> Callable[[], None]:
    """Alice (authenticated) calls 102 through proxy-users; a test UA plays the application
    server, answers, and the caller hangs up (as tests/sip/test_calls.py)."""

    def call() -> None:
        alice = pf.ua("alice", ALICE_PW)
        try:
            d = alice.invite("102", body=sdp(40000), wait_final=False)
            inv = asrv.request("INVITE", call_id=d.call_id, timeout=5)
            asrv.answer(inv, body=sdp(40002))
            final = alice.wait_final(d, timeout=5)
            assert final.status == 200, final.first
            asrv.request("ACK", call_id=d.call_id, timeout=5)
            alice.in_dialog(d, "BYE")
            bye = asrv.request("BYE", call_id=d.call_id, timeout=5)
            asrv.respond(bye, 200, "OK")
            assert alice.response(d.call_id, "BYE", final=True).status == 200
        finally:
            alice.close()
            pf.uas.remove(alice)

    return call


def trunks_call(t: Trunks, rows: Any, asrv: UA, carrier: UA) -> Callable[[], None]:
    """The application server (a test UA) calls a Spanish number out through proxy-trunks to a
    carrier (a test UA), which answers; the caller hangs up (as tests/sip/test_trunks.py)."""
    def call() -> None:
        _drain_raw(asrv)
        asrv.pending.clear()
        d = call_out(asrv, t, "+34911234567", rows.company, rows.brand)
        inv = carrier.recv(lambda m: m.is_request and m.method == "INVITE", timeout=5)
        carrier.answer(inv, body=sdp(41002))
        final = asrv.wait_final(d, timeout=5)
        assert final.status == 200, final.first
        carrier.request("ACK", call_id=inv.call_id, timeout=5)
        finish(t, asrv, d, carrier, inv)

    return call


def as_call(proxy: UA, addr: tuple[str, int], brand: int, company: int) -> Callable[[], None]:
    """proxy-users (a test UA the application server trusts) brings it a call to 102; the test
    dialplan calls bob back through proxy-users (the same UA), who answers; both legs hang up."""

    def call() -> None:
        _drain_raw(proxy)
        proxy.pending.clear()
        proxy.proxy = addr
        ctx = [f"X-Info-BrandId: {brand}", f"X-Info-CompanyId: {company}", "X-Info-Type: vpbx",
               "X-Info-Caller: alice", "X-Info-EndpointType: terminal"]
        d = proxy.invite(f"sip:102@{DOMAIN}", ruri=f"sip:102@{addr[0]}:{addr[1]}", body=sdp(40020), extra=ctx,
                         auth=False, wait_final=False)
        inv = proxy.recv(lambda m: m.is_request and m.method == "INVITE" and m.call_id != d.call_id, timeout=5)
        proxy.answer(inv, body=sdp(40022))
        final = proxy.wait_final(d, timeout=5)
        assert final.status == 200, final.first
        proxy.request("ACK", call_id=inv.call_id, timeout=5)
        proxy.in_dialog(d, "BYE")
        bye = proxy.request("BYE", call_id=inv.call_id, timeout=5)
        proxy.respond(bye, 200, "OK")
        assert proxy.response(d.call_id, "BYE", final=True).status == 200

    return call


def _drain_raw(ua: UA) -> None:
    """Reads whatever the torture left on ``ua``'s socket (answers the UA could not parse)."""
    ua.sock.setblocking(False)
    try:
        while True:
            ua.sock.recv(70000)
    except BlockingIOError:
        pass
    finally:
        ua.sock.setblocking(True)


@dataclass
class TortureAS:
    proc: Proc
    addr: tuple[str, int]
    proxy: UA  # the address it trusts as proxy-users


@pytest.fixture()
def torture_as(platform: Platform) -> Iterator[TortureAS]:
    """A ``polyvox appserver`` of its own (test dialplan) whose proxy-users is a test socket, so
    the suite can speak as the proxy the application server trusts; one per test, so that what
    one run does to it does not carry over to the next."""
    proxy = UA("proxy-users", DOMAIN, ("127.0.0.1", 0))
    trunks = UA("proxy-trunks", DOMAIN, ("127.0.0.1", 0))
    port = free_port(False)
    env = {**os.environ, "POLYVOX_DATABASE_URL": platform.url, "POLYVOX_HOME": str(platform.tmp / "home"),
           "POLYVOX_SIP_HOST": "127.0.0.1", "POLYVOX_SIP_USERS_PORT": str(proxy.port),
           "POLYVOX_SIP_TRUNKS_PORT": str(trunks.port), "POLYVOX_AS_TEST_PLAN": json.dumps(PLAN),
           "POLYVOX_AS_DIALPLAN_TIMEOUT": "5", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    argv = [sys.executable, "-m", "polyvox.cli", "appserver", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--dialplan", TEST_DIALPLAN]
    proc = _Proc(argv, platform.tmp / f"appserver-torture-{port}.log", f"appserver-{port}", env)
    try:
        _wait_ready(("127.0.0.1", port), proc)
        yield TortureAS(proc, ("127.0.0.1", port), proxy)
    finally:
        proc.stop()
        proxy.close()
        trunks.close()


def test_corpus_holds_rfc4475_bit_exact() -> None:
    """Every message of RFC 4475 §3.1.1, §3.1.2, §3.2, §3.3 and §3.4 is in the corpus, byte for byte
    as in the RFC's archive (SHA-256 listed in rfc4475/README.md), and adapting it to loopback
    leaves its body and its NUL/non-UTF-8 octets alone."""
    import hashlib

    from tests.sip.torture.corpus import RFC4475, RFC_DIR, adapt_rfc

    listed = dict(line.split()[::-1] for line in (RFC_DIR / "README.md").read_text().splitlines()
                  if line.endswith(".dat"))
    sections = Counter(section.rsplit(".", 1)[0] if section.count(".") == 3 else section[:3]
                       for _, section, *_ in RFC4475)
    assert sections == {"3.1.1": 13, "3.1.2": 19, "3.2": 1, "3.3": 15, "3.4": 1}
    assert sorted(listed) == sorted(f"{name}.dat" for name, *_ in RFC4475)
    for name, *_ in RFC4475:
        raw = (RFC_DIR / f"{name}.dat").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == listed[f"{name}.dat"], name
        adapted = adapt_rfc(raw)
        assert adapted.partition(b"\r\n\r\n")[2] == raw.partition(b"\r\n\r\n")[2], name
        assert adapted.count(b"\x00") == raw.count(b"\x00"), name
        assert b"example." not in adapted.partition(b"\r\n\r\n")[0].replace(b"%40example.", b""), name
        assert b"192.0.2." not in adapted.partition(b"\r\n\r\n")[0], name


@pytest.fixture(scope="module")
def torture_endpoint(platform: Platform) -> tuple[str, str]:
    """A terminal of DemoCompany of the suite's own (created through the API), whose credentials
    the "authenticated" family answers challenges with and whose registrations it may spoil."""
    name = f"tort{uuid.uuid4().hex[:6]}"
    password = f"TORtpwd+{uuid.uuid4().int % 1000:03d}"
    platform.add_terminal(name, password)
    return name, password


TARGETS = ["proxy-users/udp", "proxy-users/tcp", "proxy-trunks/udp", "proxy-trunks/tcp", "appserver/udp-as-proxy",
           "appserver/udp-foreign"]


@pytest.mark.parametrize("key", TARGETS)
def test_torture(key: str, request: pytest.FixtureRequest) -> None:
    role, transport = key.split("/")
    proto = "TCP" if transport == "tcp" else "UDP"
    pf: Platform = request.getfixturevalue("pv")
    if role == "proxy-users":
        asrv = pf.ua("as")
        request.getfixturevalue("app_servers")([f"127.0.0.1:{asrv.port}"])
        target = Target(key, pf.proxy, proto, pf.kamailio, ips=lambda b: f"127.19.1.{b + 1}", number="102",
                        call=users_call(pf, asrv), kamailio=True, peers=(asrv,),
                        credentials=request.getfixturevalue("torture_endpoint"))
    elif role == "proxy-trunks":
        t: Trunks = request.getfixturevalue("trunks")
        rows = request.getfixturevalue("data")
        asrv = as_ua(rows)
        carrier = t.ua("carrier")
        cid, _ = rows.carrier([carrier], SPAIN_OUT)
        rows.route("+34", cid)
        rows.rating("+34")
        provider = rows.provider()  # the torture's sources reach proxy-trunks as a DDI provider's
        ips = [f"127.19.3.{b + 1}" for b in range(len(FAMILIES))]
        for ip in ips:
            rows.create("DdiProviderAddress", ddiProvider=provider, ip=ip, description="torture source")
        context = (f"X-Info-BrandId: {rows.brand}\r\nX-Info-CompanyId: {rows.company}\r\n"
                   "X-Info-Caller: +34911000001\r\nX-Info-EndpointType: terminal\r\nX-Info-EndpointId: 1\r\n")
        target = Target(key, t.proxy, proto, t.kamailio, ips=lambda b: ips[b], number="+34911234567",
                        call=trunks_call(t, rows, asrv, carrier), kamailio=True, peers=(carrier,), trusted=asrv,
                        trusted_insert=context.encode())
    else:
        tas: TortureAS = request.getfixturevalue("torture_as")
        company = pf.company_id()
        brand = pf.prov.brand_of(company)
        trusted = transport == "udp-as-proxy"
        insert = f"X-Info-BrandId: {brand}\r\nX-Info-CompanyId: {company}\r\n".encode() if trusted else b""
        target = Target(key, tas.addr, "UDP", tas.proc, ips=lambda b: f"127.19.{5 if trusted else 6}.{b + 1}",
                        number="299", auth_number="102", call=as_call(tas.proxy, tas.addr, brand, company),
                        single=tas.proxy if trusted else None, insert=insert)
    check(run(target), pf.tmp)

