"""No open relay (issue 19 item 1, docs/sip.md §11): in-dialog requests are relayed only within a
dialog the proxy set up, from one of its parties; out-of-dialog requests of unauthenticated
sources towards foreign URIs are refused. Both proxies, real Kamailio processes.

Each forged request names a loopback UDP listener of the test in its R-URI and carries a To tag
and ``Route: <sip:PROXY;lr>``: the listener must receive nothing and the sender gets an error
response. Legitimate calls' in-dialog requests (re-INVITE, BYE) still pass.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from polyvox.db.location import dialogs
from polyvox.platform.proxy_settings import ProxySettings
from polyvox.sip import render
from tests.sip.conftest import ALICE_PW, DOMAIN, Platform, Trunks, free_port
from tests.sip.test_trunks import SPAIN_IN, Data, as_ua, cdrs, data  # noqa: F401  (fixture)
from tests.sip.ua import UA, Message, rand, sdp

METHODS = ("INVITE", "MESSAGE", "OPTIONS", "BYE", "NOTIFY")


@pytest.fixture()
def victim() -> Iterator[socket.socket]:
    """The arbitrary address an attacker wants to reach through the proxy."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def received(sock: socket.socket, wait: float = 1.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(65535))
        except TimeoutError:
            break
    return got


def forged(ua: UA, method: str, target: tuple[str, int], proxy: tuple[str, int], *, to_tag: bool = True,
           route: bool = True, call_id: str | None = None, from_tag: str | None = None,
           tag: str | None = None) -> Message:
    """Sends one forged request through ``proxy`` and returns the proxy's final response."""
    call_id = call_id or f"relay-{rand()}@attacker"
    ruri = f"sip:victim@{target[0]}:{target[1]}"
    text = ua.build(method, ruri, call_id=call_id, from_tag=from_tag or rand(4), to=ruri, cseq=1,
                    to_tag=(tag or rand(4)) if to_tag else None,
                    route=[f"<sip:{proxy[0]}:{proxy[1]};lr>"] if route else None,
                    body=sdp(42000) if method == "INVITE" else "",
                    extra=["Event: dialog", "Subscription-State: active"] if method == "NOTIFY" else None)
    ua.send(text, proxy)
    return ua.response(call_id, method, final=True)


def attackers(pf_uas: list[UA], proxy: tuple[str, int]) -> list[UA]:
    """Unauthenticated sources: one on the proxy's own address, one on another loopback address."""
    uas = []
    for host in ("127.0.0.1", "127.0.0.2"):
        ua = UA("mallory", "evil.example", proxy)
        ua.sock.close()
        ua.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ua.sock.bind((host, 0))
        ua.host, ua.port = ua.sock.getsockname()
        pf_uas.append(ua)
        uas.append(ua)
    return uas


def assert_no_relay(proxy: tuple[str, int], uas: list[UA], victim: socket.socket) -> None:
    target = victim.getsockname()
    for ua in uas:  # a reply of no transaction naming the victim in its second Via is not forwarded
        ua.send(f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {proxy[0]}:{proxy[1]};branch=z9hG4bK{rand(10)}\r\n"
                f"Via: SIP/2.0/UDP {target[0]}:{target[1]};branch=z9hG4bK{rand(10)}\r\n"
                f"From: <sip:a@evil.example>;tag={rand(4)}\r\nTo: <sip:b@evil.example>;tag={rand(4)}\r\n"
                f"Call-ID: {rand(12)}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", proxy)
    for ua in uas:
        for method in METHODS:
            for to_tag, route in ((True, True), (False, True), (False, False)):
                r = forged(ua, method, target, proxy, to_tag=to_tag, route=route)
                assert r.status >= 400, (ua.host, method, to_tag, route, r.status, r.reason)
                assert r.reason.strip(), "refusals carry a reason phrase"
    assert received(victim) == [], "a forged request reached the foreign address"


# ------------------------------------------------------------------------------ proxy-users
def test_proxy_users_relays_no_forged_request(pv: Platform, victim: socket.socket) -> None:
    uas = attackers(pv.uas, pv.proxy)
    assert_no_relay(pv.proxy, uas, victim)
    r = forged(uas[0], "BYE", victim.getsockname(), pv.proxy)
    assert (r.status, r.reason) == (481, "Call/Transaction Does Not Exist: unknown dialog")


def test_proxy_users_in_dialog_requests_of_a_call_pass_and_strangers_are_refused(
        pv: Platform, app_servers, victim: socket.socket) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as", domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(40000), wait_final=False)
    inv = asrv.request("INVITE")
    uas = asrv.answer(inv, body=sdp(40002))
    assert alice.wait_final(d).status == 200
    asrv.request("ACK", call_id=inv.call_id)

    # a stranger (another address) with the dialog's Call-ID, tags and Route: refused, not relayed
    mallory = attackers(pv.uas, pv.proxy)[1]
    route = d.route[0]
    text = mallory.build("BYE", f"sip:victim@127.0.0.1:{victim.getsockname()[1]}", call_id=d.call_id,
                         from_tag=d.local_tag, to=d.remote_uri, to_tag=d.remote_tag, cseq=50, route=[route])
    mallory.send(text, pv.proxy)
    r = mallory.response(d.call_id, "BYE", final=True)
    assert (r.status, r.reason) == (403, "Forbidden: not a party of this dialog")
    # a party of the dialog sending it elsewhere: refused too
    text = alice.build("MESSAGE", f"sip:victim@127.0.0.2:{victim.getsockname()[1]}", call_id=d.call_id,
                       from_tag=d.local_tag, to=d.remote_uri, to_tag=d.remote_tag, cseq=60, route=[route])
    alice.send(text, pv.proxy)
    r = alice.response(d.call_id, "MESSAGE", final=True)
    assert (r.status, r.reason) == (403, "Forbidden: in-dialog destination outside the dialog")
    assert received(victim, 0.3) == []

    # the call's own re-INVITE and BYE still pass
    alice.in_dialog(d, "INVITE", body=sdp(40004))
    reinv = asrv.request("INVITE", call_id=inv.call_id)
    asrv.respond(reinv, 200, "OK", body=sdp(40006), to_tag=uas.local_tag)
    assert alice.response(d.call_id, "INVITE", final=True).status == 200
    alice.in_dialog(d, "ACK", cseq=d.cseq)
    asrv.request("ACK", call_id=inv.call_id)
    alice.in_dialog(d, "BYE")
    bye = asrv.request("BYE", call_id=inv.call_id)
    asrv.respond(bye, 200, "OK")
    assert alice.response(d.call_id, "BYE", final=True).status == 200
    # the dialog is over: the same BYE again is refused and goes nowhere
    alice.in_dialog(d, "BYE")
    assert alice.response(d.call_id, "BYE", final=True).status in (403, 481)
    assert [m for m in asrv.drain(0.5) if m.is_request and m.method == "BYE"] == []


def test_proxy_users_negative_ack_and_cancel_still_work(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as", domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(40000), wait_final=False)
    inv = asrv.request("INVITE")
    asrv.respond(inv, 486, "Busy Here")
    assert alice.wait_final(d).status == 486  # and its ACK is absorbed: no retransmitted 486
    assert [m for m in alice.drain(1.0) if not m.is_request and m.status == 486] == []
    asrv.request("ACK", call_id=inv.call_id)  # the proxy's own ACK to the application server
    d2 = alice.invite("102", body=sdp(40000), wait_final=False)
    inv2 = asrv.request("INVITE", call_id=None)
    asrv.respond(inv2, 180, "Ringing")
    alice.cancel(d2)
    assert asrv.request("CANCEL", call_id=inv2.call_id).method == "CANCEL"


# ------------------------------------------------------------------------------ proxy-trunks
def test_proxy_trunks_relays_no_forged_request(trunks: Trunks, victim: socket.socket) -> None:
    uas = attackers(trunks.uas, trunks.proxy)
    assert_no_relay(trunks.proxy, uas, victim)


def test_proxy_trunks_in_dialog_requests_of_a_call_pass_and_strangers_are_refused(
        trunks: Trunks, data: Data, victim: socket.socket) -> None:  # noqa: F811
    asrv = as_ua(data)
    prov = data.provider(SPAIN_IN)
    data.ddi("+34955000111", provider=prov)
    provider_ua = trunks.ua("600111222", domain="provider.example")
    d = provider_ua.invite(f"sip:955000111@{trunks.proxy[0]}:{trunks.proxy[1]}", body=sdp(41000), auth=False,
                           wait_final=False)
    inv = asrv.request("INVITE")
    uas = asrv.answer(inv, body=sdp(41002))
    assert provider_ua.wait_final(d).status == 200
    asrv.request("ACK", call_id=inv.call_id)

    mallory = attackers(trunks.uas, trunks.proxy)[1]
    for method in ("INVITE", "BYE"):
        text = mallory.build(method, f"sip:+34900000000@127.0.0.1:{victim.getsockname()[1]}", call_id=d.call_id,
                             from_tag=d.local_tag, to=d.remote_uri, to_tag=d.remote_tag, cseq=70,
                             route=[d.route[0]], body=sdp(42000) if method == "INVITE" else "")
        mallory.send(text, trunks.proxy)
        r = mallory.response(d.call_id, method, final=True)
        assert (r.status, r.reason) == (403, "Forbidden: not a party of this dialog")
    assert received(victim, 0.5) == []

    # the DDI provider's re-INVITE reaches the application server, the application server's BYE
    # reaches the provider
    provider_ua.in_dialog(d, "INVITE", body=sdp(41004))
    reinv = asrv.request("INVITE", call_id=inv.call_id)
    asrv.respond(reinv, 200, "OK", body=sdp(41006), to_tag=uas.local_tag)
    assert provider_ua.response(d.call_id, "INVITE", final=True).status == 200
    provider_ua.in_dialog(d, "ACK", cseq=d.cseq)
    asrv.request("ACK", call_id=inv.call_id)
    asrv.in_dialog(uas, "BYE")
    bye = provider_ua.request("BYE", call_id=d.call_id)
    provider_ua.respond(bye, 200, "OK")
    assert asrv.response(inv.call_id, "BYE", final=True).status == 200
    assert len(cdrs(trunks, d.call_id)) == 1
    assert stored_dialogs(trunks.pf, d.call_id) == 0, "the stored copy goes with the dialog"


def stored_dialogs(pf: Platform, call_id: str, timeout: float = 3.0) -> int:
    """Rows of ``kam_dialogs`` for ``call_id``, once they reach 0 or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with pf.engine.connect() as c:
            n = len(c.execute(select(dialogs.c.id).where(dialogs.c.callid == call_id)).all())
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


# ------------------------------------------------------------------------------ restarts
class OwnProxy:
    """A proxy instance of the test's own (its own home and port, the session's database), killed
    with SIGKILL as a whole process group and started again on the same port."""

    def __init__(self, settings: ProxySettings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.p: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def addr(self) -> tuple[str, int]:
        return ("127.0.0.1", self.settings.port)

    def start(self) -> None:
        rendered = render.render(self.settings)
        with self.log.open("ab") as fh:
            self.p = subprocess.Popen(rendered.argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        deadline = time.monotonic() + 15
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            while time.monotonic() < deadline:
                assert self.p.poll() is None, self.log.read_text(errors="replace")[-3000:]
                msg = (f"OPTIONS sip:127.0.0.1:{self.settings.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
                       f"{s.getsockname()[1]};branch=z9hG4bK{rand(10)}\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
                       f"To: <sip:127.0.0.1>\r\nCall-ID: {rand(12)}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                       "Content-Length: 0\r\n\r\n")
                s.sendto(msg.encode(), self.addr)
                s.settimeout(0.3)
                try:
                    if s.recv(4096).startswith(b"SIP/2.0 200"):
                        return
                except TimeoutError:
                    pass
        raise AssertionError("proxy not ready")

    def kill(self) -> None:
        assert self.p is not None
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(5)
        time.sleep(0.5)  # the group's sockets are released

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)


def test_proxy_users_relays_a_live_calls_bye_after_a_kill_and_restart(
        pv: Platform, app_servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    own = OwnProxy(pv.settings.with_(home=tmp_path / "home", port=free_port()), tmp_path / "kamailio.log")
    try:
        asrv = pv.ua("as", domain=DOMAIN)
        app_servers([f"127.0.0.1:{asrv.port}"])
        alice = UA("alice", DOMAIN, own.addr, password=ALICE_PW)
        pv.uas.append(alice)
        d = alice.invite("102", body=sdp(40000), wait_final=False)
        inv = asrv.request("INVITE")
        asrv.answer(inv, body=sdp(40002))
        assert alice.wait_final(d).status == 200
        asrv.request("ACK", call_id=inv.call_id)

        own.kill()
        own.start()
        mallory = attackers(pv.uas, own.addr)[1]
        text = mallory.build("BYE", d.remote_target, call_id=d.call_id, from_tag=d.local_tag, to=d.remote_uri,
                             to_tag=d.remote_tag, cseq=90, route=d.route)
        mallory.send(text, own.addr)
        assert mallory.response(d.call_id, "BYE", final=True).status == 403
        alice.in_dialog(d, "BYE")
        bye = asrv.request("BYE", call_id=inv.call_id)
        asrv.respond(bye, 200, "OK")
        assert alice.response(d.call_id, "BYE", final=True).status == 200
        alice.in_dialog(d, "BYE")  # the stored dialog is gone with its BYE
        assert alice.response(d.call_id, "BYE", final=True).status == 481
    finally:
        own.stop()


def test_proxy_trunks_relays_a_live_calls_bye_and_writes_its_record_after_a_kill_and_restart(
        trunks: Trunks, data: Data, tmp_path: Path) -> None:  # noqa: F811
    own = OwnProxy(trunks.settings.with_(home=tmp_path / "home", port=free_port()), tmp_path / "kamailio.log")
    try:
        asrv = as_ua(data)
        prov = data.provider(SPAIN_IN)
        data.ddi("+34955000333", provider=prov)
        provider_ua = trunks.ua("600111444", domain="provider.example")
        d = provider_ua.invite(f"sip:955000333@{own.addr[0]}:{own.addr[1]}", body=sdp(41000), auth=False,
                               wait_final=False)
        inv = asrv.request("INVITE")
        uas = asrv.answer(inv, body=sdp(41002))
        assert provider_ua.wait_final(d).status == 200
        asrv.request("ACK", call_id=inv.call_id)

        own.kill()
        own.start()
        asrv.in_dialog(uas, "BYE")
        bye = provider_ua.request("BYE", call_id=d.call_id)
        provider_ua.respond(bye, 200, "OK")
        assert asrv.response(inv.call_id, "BYE", final=True).status == 200
        (row,) = cdrs(trunks, d.call_id)
        assert (row["direction"], row["callee"]) == ("inbound", "+34955000333")
        assert row["answerTime"] is not None and row["disconnectReason"] == "ended"
    finally:
        own.stop()
