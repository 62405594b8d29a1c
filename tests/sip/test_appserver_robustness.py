"""The application server under bad input (issue 19, item 2): one datagram must not silence it,
malformed requests get ``400`` with a reason (or silence), datagrams are read whole, only the
proxies may talk to it, and a worker that cannot answer SIP any more exits (watchdog).

Real ``polyvox appserver`` workers, proxy-users/proxy-trunks (Kamailio) and phones (test UAs);
each batch of bad datagrams is followed by a health check (OPTIONS answered, process alive) and a
real call through proxy-users. The watchdog's decision logic and the sender's address checks are
unit-tested (the sender in a process of its own: sippy binds to the thread that imports it).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.sip.fixtures_appserver import ROOT, AppServers, as_session  # noqa: F401
from tests.sip.test_appserver_runtime import Env, callee_hangs_up, env  # noqa: F401
from tests.sip.ua import UA, sdp


@pytest.fixture()
def own(env: Env) -> Iterator[tuple[Env, int, object]]:  # noqa: F811
    """A worker of this test's own (bad datagrams must not touch the session's), made the
    client's only application server."""
    (port, proc), = env.servers.start(1)
    env.set_servers([f"127.0.0.1:{port}"])  # type: ignore[operator]
    try:
        yield env, port, proc
    finally:
        proc.stop()
        env.servers.workers.remove((port, proc))


class Raw:
    """A plain UDP socket on loopback (not a proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes | str, dest: tuple[str, int]) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, dest)

    def answer(self, call_id: str, timeout: float = 3.0) -> bytes | None:
        """The response carrying ``call_id``, or None when nothing came in ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return None
            if call_id.encode() in data:
                return data
        return None


def request(method: str, port: int, *, via_port: int | None = None, call_id: str | None = None,
            extra: str = "", body: str = "", length: int | None = None, to_tag: str | None = None,
            cseq_method: str | None = None) -> tuple[str, str]:
    call_id = call_id or f"rb-{uuid.uuid4().hex}"
    to = f"<sip:102@127.0.0.1:{port}>" + (f";tag={to_tag}" if to_tag else "")
    text = (f"{method} sip:102@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{via_port or 5999};branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
            f"From: <sip:attacker@127.0.0.1>;tag={uuid.uuid4().hex[:6]}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 {cseq_method or method}\r\nContact: <sip:attacker@127.0.0.1:{via_port or 5999}>\r\n"
            f"Max-Forwards: 70\r\n{extra}Content-Length: {len(body.encode()) if length is None else length}\r\n"
            f"\r\n{body}")
    return text, call_id


def status_line(data: bytes | None) -> str:
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "(no answer)"


def healthy(e: Env, port: int, proc: object, raw: Raw, n: int) -> None:
    """OPTIONS answered 200, the process alive, and a real call through proxy-users bridged and
    hung up (alice → 291 → asbob, test dialplan)."""
    text, cid = request("OPTIONS", port, via_port=raw.port)
    raw.send(text, ("127.0.0.1", port))
    assert status_line(raw.answer(cid, 10)).startswith("SIP/2.0 200"), "OPTIONS not answered"
    assert proc.alive()  # type: ignore[attr-defined]
    alice, bob2 = e.phone("alice"), e.phone("asbob")
    d = alice.invite("291", body=sdp(41000 + 4 * n), wait_final=False, timeout=15)
    inv = bob2.request("INVITE", timeout=15)
    uas = bob2.answer(inv, body=sdp(41001 + 4 * n))
    assert alice.wait_final(d, timeout=15).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    callee_hangs_up(alice, d, bob2, uas)


def test_invalid_via_port_does_not_silence_the_worker(own: tuple[Env, int, object]) -> None:
    """The datagram of the issue (``Via: …:99999``) killed sippy's only sender thread: now it is
    answered (403 for a non-proxy INVITE, 400 for what would be answered to that Via) or dropped,
    and the worker keeps answering."""
    e, port, proc = own
    raw = Raw()
    try:
        invite, cid = request("INVITE", port, via_port=99999, body=sdp(41990))
        raw.send(invite, ("127.0.0.1", port))
        assert status_line(raw.answer(cid)).startswith("SIP/2.0 403 Forbidden: only the platform's proxies")
        for method in ("OPTIONS", "INFO"):
            text, cid = request(method, port, via_port=99999)
            raw.send(text, ("127.0.0.1", port))
            line = status_line(raw.answer(cid))
            assert line.startswith(("SIP/2.0 400 Bad Request: invalid address in Via", "SIP/2.0 403 Forbidden")), line
        text, cid = request("OPTIONS", port, extra="Record-Route: <sip:127.0.0.1:70000;lr>\r\n")
        raw.send(text, ("127.0.0.1", port))
        assert status_line(raw.answer(cid)) == "SIP/2.0 400 Bad Request: invalid port in Record-Route"
        text, cid = request("OPTIONS", port, via_port=70000)
        raw.send(text.replace(";branch", ";rport=99999;branch"), ("127.0.0.1", port))
        assert status_line(raw.answer(cid)).startswith("SIP/2.0 400 Bad Request: invalid")
        healthy(e, port, proc, raw, 0)
    finally:
        raw.close()


def test_malformed_requests_get_400_with_a_reason_or_silence(own: tuple[Env, int, object]) -> None:
    e, port, proc = own
    raw = Raw()
    try:
        cases: list[tuple[bytes, str, str | None]] = []
        text, cid = request("OPTIONS", port, via_port=raw.port, body="v=0\r\n", length=500)
        cases.append((text.encode(), cid, "SIP/2.0 400 Bad Request: Truncated SIP body, 500 bytes expected"))
        text, cid = request("OPTIONS", port, via_port=raw.port, extra="Subject: caf\xe9\r\n")
        cases.append((text.encode("latin-1"), cid, "SIP/2.0 400 Bad Request: message is not valid UTF-8"))
        text, cid = request("OPTIONS", port, via_port=raw.port)
        cases.append((text.replace(" SIP/2.0\r\n", " SIP/3.0\r\n", 1).encode(), cid,
                      "SIP/2.0 400 Bad Request: malformed request line"))
        text, cid = request("OPTIONS", port, via_port=raw.port, cseq_method="INVITE")
        cases.append((text.encode(), cid, "SIP/2.0 400 Bad Request: CSeq method does not match the request"))
        text, cid = request("OPTIONS", port, via_port=raw.port)
        cases.append((text.replace("From: <sip:attacker@127.0.0.1>", "From: <sip:attacker@127.0.0.1").encode(), cid,
                      "SIP/2.0 400 Bad Request: invalid From header"))
        text, cid = request("OPTIONS", port, via_port=raw.port)
        # no usable CSeq / no Call-ID / no Via: no response can be built → silence
        text, cid = request("OPTIONS", port, via_port=raw.port)
        cases.append((text.replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS").encode(), cid, None))
        text, cid = request("OPTIONS", port, via_port=raw.port)
        cases.append((text.replace(f"Call-ID: {cid}\r\n", "").replace("From: <", f"From: \"{cid}\" <").encode(),
                      cid, None))
        text, cid = request("OPTIONS", port, via_port=raw.port)
        no_via = "\r\n".join(x for x in text.split("\r\n") if not x.startswith("Via:"))
        cases.append((no_via.encode(), cid, None))
        for data, cid, expected in cases:
            raw.send(data, ("127.0.0.1", port))
            got = raw.answer(cid, 3.0 if expected else 1.0)
            if expected is None:
                assert got is None, status_line(got)
            else:
                assert status_line(got).startswith(expected), (expected, status_line(got))
                assert b"Traceback" not in (got or b"")
        healthy(e, port, proc, raw, 1)
    finally:
        raw.close()


def test_large_datagrams_are_read_whole(own: tuple[Env, int, object]) -> None:
    """A 9 KB INVITE through proxy-users is handled (sippy read 8,192 bytes: the call got 503
    after 10 s); a 65,507-byte OPTIONS (the largest UDP payload) is answered."""
    e, port, proc = own
    raw = Raw()
    try:
        alice, bob2 = e.phone("alice"), e.phone("asbob")
        d = alice.invite("291", body=sdp(41100), extra=[f"X-Pad: {'p' * 9000}"], wait_final=False, timeout=15)
        inv = bob2.request("INVITE", timeout=15)
        uas = bob2.answer(inv, body=sdp(41101))
        assert alice.wait_final(d, timeout=15).status == 200
        bob2.request("ACK", call_id=inv.call_id, timeout=10)
        callee_hangs_up(alice, d, bob2, uas)
        text, cid = request("OPTIONS", port, via_port=raw.port, extra="X-Pad: \r\n")
        pad = 65507 - len(text.encode())
        big = text.replace("X-Pad: \r\n", f"X-Pad: {'q' * pad}\r\n").encode()
        assert len(big) == 65507
        raw.send(big, ("127.0.0.1", port))
        assert status_line(raw.answer(cid, 10)).startswith("SIP/2.0 200")
        healthy(e, port, proc, raw, 2)
    finally:
        raw.close()


def test_only_the_proxies_may_talk_to_the_worker(own: tuple[Env, int, object]) -> None:
    """A non-proxy source gets 403 for any request but OPTIONS, in a dialog too: a BYE forged with
    a live call's Call-ID and tags does not end it; its forged responses are ignored."""
    e, port, proc = own
    alice, bob2 = e.phone("alice"), e.phone("asbob")
    d = alice.invite("291", body=sdp(41200), wait_final=False, timeout=15)
    inv = bob2.request("INVITE", timeout=15)
    uas = bob2.answer(inv, body=sdp(41201))
    assert alice.wait_final(d, timeout=15).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    intruder = UA("intruder", "127.0.0.1", ("127.0.0.1", port))
    e.pf.uas.append(intruder)
    try:
        # the worker's leg towards asbob: Call-ID, our From tag, asbob's To tag
        bye = intruder.build("BYE", f"sip:127.0.0.1:{port}", call_id=inv.call_id, from_tag=uas.local_tag,
                             to=uas.remote_uri, to_tag=uas.remote_tag, cseq=50,
                             from_uri=uas.local_uri)
        intruder.send(bye, ("127.0.0.1", port))
        r = intruder.response(inv.call_id, "BYE", final=True, timeout=5)
        assert r.status == 403 and "proxies" in r.reason
        fake = (f"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKforged\r\n"
                f"From: {inv['from']}\r\nTo: {inv['to']};tag=x\r\nCall-ID: {inv.call_id}\r\nCSeq: 1 INVITE\r\n"
                "Content-Length: 0\r\n\r\n")
        intruder.send(fake, ("127.0.0.1", port))
        new, _ = request("INVITE", port, via_port=intruder.port, body=sdp(41202))
        intruder.send(new, ("127.0.0.1", port))
        assert intruder.recv(lambda m: not m.is_request and m.cseq_method == "INVITE", 5).status == 403
        time.sleep(1.0)
        assert not [m for m in bob2.drain(0.3) + alice.drain(0.3) if m.is_request and m.method == "BYE"]
        callee_hangs_up(alice, d, bob2, uas)  # the call was still up
        assert proc.alive()  # type: ignore[attr-defined]
    finally:
        intruder.close()


# ----------------------------------------------------------------------------- units
def test_watchdog_exits_on_a_dead_thread_or_repeated_failures() -> None:
    from polyvox.appserver.runtime.watchdog import Watchdog

    fatal: list[str] = []
    dead = threading.Thread(target=lambda: None, name="sip-send")
    dead.start()
    dead.join()
    assert Watchdog(lambda: [dead], [], on_fatal=fatal.append).check_once() == "thread sip-send died"
    answers = iter([False, True, False, False, False])
    wd = Watchdog(lambda: [threading.current_thread()], [("OPTIONS to itself", lambda: next(answers))],
                  failures=3, on_fatal=fatal.append)
    assert [wd.check_once() for _ in range(4)] == [None, None, None, None]  # a success resets the count
    assert wd.check_once() == "OPTIONS to itself failed 3 times in a row"
    raising = Watchdog(lambda: [], [("sippy loop", lambda: 1 / 0 > 0)], failures=1, on_fatal=fatal.append)
    assert raising.check_once() == "sippy loop failed 1 times in a row"
    wd = Watchdog(lambda: [dead], [], interval=0.05, on_fatal=fatal.append)
    wd.start()
    wd.join(5)
    assert fatal == ["thread sip-send died"]


SENDER_CHECK = r"""
import socket
from polyvox.appserver.runtime.sippy_transport import GuardedUdpOpts, GuardedUdpServer

rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
rx.settimeout(5)
srv = GuardedUdpServer({}, GuardedUdpOpts(("127.0.0.1", 0), None))
srv.send_to(b"a" * 40, ("127.0.0.1", 99999))
srv.sendqueue.put((b"b" * 40, ("127.0.0.1", 99999)))  # straight to the sender thread
srv.sendqueue.put((b"c" * 40, ("127.0.0.1", -1)))
srv.sendqueue.put((b"d" * 40, ("no-such-host.invalid", 5060)))
srv.sendqueue.put((b"e" * 70000, rx.getsockname()))
srv.send_to(b"ok", rx.getsockname())
assert rx.recv(100) == b"ok"
assert all(t.is_alive() for t in srv.threads()), srv.threads()
srv.shutdown()
print("sender alive")
"""


def test_sender_drops_invalid_addresses_and_survives() -> None:
    out = subprocess.run([sys.executable, "-c", SENDER_CHECK], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, env={"PYTHONPATH": f"{ROOT / 'src'}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "sender alive" in out.stdout, out.stderr[-3000:]


def test_proxies_non_utf8_bytes_are_repaired_foreign_ones_refused() -> None:
    """An old phone's Latin-1 display name, relayed by proxy-users, must not stop its call: the
    bytes become U+FFFD; the same request from another source is refused 400."""
    from polyvox.appserver.runtime.sipguard import screen

    proxy = ("127.0.0.1", 5060)
    text, _ = request("INVITE", 6060, via_port=5060, body=sdp(41400))
    data = text.encode().replace(b"From: <", b'From: "Jos\xe9 \xff" <')
    ok = screen(data, proxy, {proxy})
    assert ok.accept and ok.data is not None and 'From: "Jos\ufffd \ufffd" <' in ok.data.decode()
    refused = screen(data, ("127.0.0.1", 5061), {proxy})
    assert not refused.accept and refused.reply is not None
    assert refused.reply.startswith(b"SIP/2.0 400 Bad Request: message is not valid UTF-8\r\n")
