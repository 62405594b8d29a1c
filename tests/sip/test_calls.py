"""Calls through proxy-users (spec 2.2 and 5: Alice calls Bob through the application server).

The application server does not exist yet: a test UA (or a sipp UAS) stands in for it, listed in
application_servers as ``127.0.0.1:PORT``.
"""

from __future__ import annotations

import time

from tests.sip.conftest import ALICE_PW, BOB_PW, DOMAIN, Platform
from tests.sip.ua import sdp


def test_alice_calls_102_reaches_app_server_with_context(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as", domain=DOMAIN)
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(40000), extra=["X-Info-CompanyId: 999", "X-Info-Spoofed: yes"],
                     wait_final=False)
    inv = asrv.request("INVITE")
    assert inv.uri == f"sip:102@{DOMAIN}"
    company = pv.company_id()
    assert inv.all("x-info-companyid") == [str(company)]  # the caller's spoofed value was removed
    assert inv.get("x-info-spoofed") is None
    assert inv["x-info-type"] == "vpbx"
    assert inv["x-info-endpointtype"] == "terminal"
    assert inv["x-info-endpoint"].endswith("_alice")
    assert inv["x-info-endpoint"].startswith(f"b{inv['x-info-brandid']}c{company}t{inv['x-info-endpointid']}")
    assert inv.get("x-info-userid")
    assert inv.get("proxy-authorization") is None  # credentials consumed at the edge
    assert inv.values("record-route"), "proxy-users stays in the dialog"
    uas = asrv.answer(inv, body=sdp(40002))
    assert alice.wait_final(d).status == 200
    ack = asrv.request("ACK", call_id=inv.call_id)
    assert ack.call_id == uas.call_id
    alice.in_dialog(d, "BYE")
    bye = asrv.request("BYE", call_id=inv.call_id)
    assert bye.values("route") == []  # the proxy consumed its own Route
    asrv.respond(bye, 200, "OK")
    assert alice.response(d.call_id, "BYE", final=True).status == 200


def test_unauthenticated_invite_is_challenged(pv: Platform) -> None:
    alice = pv.ua("alice", "wrong")
    d = alice.invite("102", body=sdp(40000), auth=False)
    assert d.answer is not None and d.answer.status == 407


def test_invite_with_wrong_password_refused(pv: Platform) -> None:
    alice = pv.ua("alice", "wrong")
    d = alice.invite("102", body=sdp(40000))
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (403, "Forbidden: wrong credentials")


def test_app_server_failover(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    """First application server silent -> after the fail-over timeout the next one gets the call;
    the silent one is then skipped for the following calls."""
    from tests.sip.conftest import free_port

    dead = free_port(False)
    live = pv.ua("as2")
    app_servers([f"127.0.0.1:{dead}", f"127.0.0.1:{live.port}"], distribute="static")
    alice = pv.ua("alice", ALICE_PW)
    t0 = time.monotonic()
    d = alice.invite("102", body=sdp(40000), wait_final=False)
    inv = live.request("INVITE", timeout=5)
    waited = time.monotonic() - t0
    assert 0.9 <= waited < 3.0, waited  # as_timeout_ms=1000 in the test settings
    live.answer(inv, body=sdp(40002))
    assert alice.wait_final(d).status == 200
    # next call: the dead server is marked down and skipped
    t0 = time.monotonic()
    d2 = alice.invite("102", body=sdp(40004), wait_final=False)
    inv2 = live.request("INVITE", timeout=5)
    assert time.monotonic() - t0 < 0.8
    live.respond(inv2, 486, "Busy Here")
    assert alice.wait_final(d2).status == 486


def test_all_app_servers_down(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    from tests.sip.conftest import free_port

    app_servers([f"127.0.0.1:{free_port(False)}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(40000), timeout=10)
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (503, "Service Unavailable: application servers unreachable")


def test_round_robin_distribution(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    a, b = pv.ua("as-a"), pv.ua("as-b")
    app_servers([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], distribute="rr")
    alice = pv.ua("alice", ALICE_PW)
    hits = []
    for _ in range(4):
        d = alice.invite("102", body=sdp(40000), wait_final=False)
        srv, inv = first_request((a, b), d.call_id)
        hits.append(srv.port)
        srv.respond(inv, 486, "Busy Here")
        alice.wait_final(d)
    assert hits[0] != hits[1] and hits[0] == hits[2] and hits[1] == hits[3], hits


def first_request(servers, call_id: str, timeout: float = 3.0):  # type: ignore[no-untyped-def]
    """(server, INVITE) of whichever server gets the call first (polling all of them, well
    inside the fail-over timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for srv in servers:
            try:
                return srv, srv.request("INVITE", timeout=0.02, call_id=call_id)
            except TimeoutError:
                continue
    raise TimeoutError("no server got the INVITE")


def test_hash_distribution_sticks_to_one_server(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    from polyvox.sip.dispatch import hash_start

    a, b = pv.ua("as-a"), pv.ua("as-b")
    app_servers([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], distribute="hash")
    expected = (a, b)[hash_start(pv.company_id(), 2)]
    alice = pv.ua("alice", ALICE_PW)
    for _ in range(3):
        d = alice.invite("102", body=sdp(40000), wait_final=False)
        inv = expected.request("INVITE", timeout=2, call_id=d.call_id)
        expected.respond(inv, 486, "Busy Here")
        alice.wait_final(d)


def test_app_server_calls_registered_bob_all_contacts_ring(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    """INVITE bob@domain from the application server: lookup, every contact rings in parallel."""
    asrv = pv.ua("as")
    app_servers([f"127.0.0.1:{asrv.port}"])
    bob1, bob2 = pv.ua("bob", BOB_PW), pv.ua("bob", BOB_PW)
    assert bob1.register().status == 200 and bob2.register().status == 200
    d = asrv.invite(f"sip:bob@{DOMAIN}", body=sdp(40010), auth=False, wait_final=False,
                    extra=["X-Info-CompanyId: 1"])
    inv1, inv2 = bob1.request("INVITE", call_id=d.call_id), bob2.request("INVITE", call_id=d.call_id)
    assert inv1.uri == f"sip:bob@127.0.0.1:{bob1.port}" and inv2.uri == f"sip:bob@127.0.0.1:{bob2.port}"
    assert not [k for k, _ in inv1.headers if k.lower().startswith("x-info-")]  # stripped at the edge
    bob1.respond(inv1, 180, "Ringing", to_tag="bob1")  # CANCEL needs a provisional reply first
    bob2.answer(inv2, body=sdp(40012))
    assert asrv.wait_final(d).status == 200
    cancel = bob1.request("CANCEL", call_id=d.call_id)  # the other fork is cancelled
    bob1.respond(cancel, 200, "OK")
    bob1.respond(inv1, 487, "Request Terminated")


def test_app_server_calls_unregistered_user(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as")
    app_servers([f"127.0.0.1:{asrv.port}"])
    pv.add_terminal("frank", "FRANKpwd+123")
    d = asrv.invite(f"sip:frank@{DOMAIN}", body=sdp(40010), auth=False)
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (480, "Temporarily Unavailable")
    d = asrv.invite(f"sip:nobody@{DOMAIN}", body=sdp(40010), auth=False)
    assert d.answer is not None and d.answer.status == 404


def test_invite_from_unknown_domain_refused(pv: Platform) -> None:
    mallory = pv.ua("alice", ALICE_PW, domain="evil.example.com")
    d = mallory.invite(f"sip:102@{DOMAIN}", body=sdp(40000))
    assert d.answer is not None
    assert (d.answer.status, d.answer.reason) == (403, "Forbidden: unknown domain")


def test_cancel_before_answer(pv: Platform, app_servers) -> None:  # type: ignore[no-untyped-def]
    asrv = pv.ua("as")
    app_servers([f"127.0.0.1:{asrv.port}"])
    alice = pv.ua("alice", ALICE_PW)
    d = alice.invite("102", body=sdp(40000), wait_final=False)
    inv = asrv.request("INVITE")
    asrv.respond(inv, 180, "Ringing", to_tag="as1")
    assert alice.response(d.call_id, "INVITE").status in (100, 180)
    alice.cancel(d)
    assert alice.response(d.call_id, "CANCEL", final=True).status == 200
    cancel = asrv.request("CANCEL", call_id=inv.call_id)
    asrv.respond(cancel, 200, "OK")
    asrv.respond(inv, 487, "Request Terminated", to_tag="as1")
    assert alice.wait_final(d).status == 487
