"""The application server's SIP runtime with real traffic (issue 5): phones (test UAs) registered
through proxy-users, real proxy-users and proxy-trunks (Kamailio), real ``polyvox appserver``
worker processes (sippy + asyncio) listed as DemoCompany's application servers.

The call logic is the test dialplan of ``fixtures_appserver`` (a table of numbers), so these tests
pin the runtime: forking, CANCEL, outcomes handed to ``script.after``, relays, transfers, workers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.sip.conftest import ALICE_PW, DOMAIN, Platform, Trunks, free_port
from tests.sip.fixtures_appserver import (  # noqa: F401
    BOB2,
    CAROL,
    DAVE,
    EXTENSIONS,
    PASSWORDS,
    AppServers,
    as_real,
    as_session,
)
from tests.sip.test_trunks import SPAIN_IN, SPAIN_OUT, Data
from tests.sip.ua import UA, Dialog, Message, host_port, sdp, sdp_media, uri_of


@dataclass
class Env:
    pf: Platform
    trunks: Trunks
    servers: AppServers
    set_servers: object
    data: Data

    def phone(self, name: str, password: str | None = None) -> UA:
        ua = self.pf.ua(name, password or PASSWORDS[name])
        r = ua.register()
        assert r.status == 200, r
        # proxy-users writes kam_users_location just after its 200 OK; the real dialplan reads it
        from polyvox.db.location import location

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.pf.engine.connect() as c:
                rows = c.execute(select(location.c.contact).where(location.c.username == name)).all()
            if any(f":{ua.port}" in str(row[0]) for row in rows):
                break
            time.sleep(0.05)
        return ua


def _ensure_terminals(pf: Platform) -> None:
    """asbob/ascarol/asdave and the test extensions (kept for the session), created by
    DemoCompany's administrator through the API."""
    company = pf.company_id()
    client = pf.prov.client(company)
    users = {}
    for name in (BOB2, CAROL, DAVE):
        users[name] = _user_id(pf, name) if client.list("terminals", name=name) else \
            pf.add_terminal(name, PASSWORDS[name])[1]
    existing = {x["number"] for x in client.list("extensions")}
    for number, name in EXTENSIONS.items():
        if number not in existing:
            pf.prov.create("Extension", company=company, number=number, routeType="user", user=users[name])


@pytest.fixture()
def env(pv: Platform, trunks: Trunks, as_session: AppServers, app_servers) -> Iterator[Env]:  # noqa: F811
    _ensure_terminals(pv)
    ports = [p for p, proc in as_session.workers if proc.alive()]
    app_servers([f"127.0.0.1:{p}" for p in ports])
    company = pv.company_id()
    brand = pv.prov.brand_of(company)
    data = Data(trunks, brand, company)
    e = Env(pv, trunks, as_session, app_servers, data)
    try:
        yield e
    finally:
        data.cleanup()
        for ua in pv.uas:
            try:
                if ua.password:
                    ua.register(expires=0)
            except (TimeoutError, OSError):
                pass
        if os.environ.get("POLYVOX_SIP_TEST_LOG"):
            print(as_session.tails())


def bye_both_ways(caller: UA, d: Dialog, callee: UA, inv: Message, callee_dialog: Dialog) -> None:
    """The caller hangs up: the callee receives the BYE and the caller its 200."""
    caller.in_dialog(d, "BYE")
    bye = callee.request("BYE", call_id=inv.call_id, timeout=10)
    callee.respond(bye, 200, "OK")
    assert caller.response(d.call_id, "BYE", final=True, timeout=10).status == 200


def callee_hangs_up(caller: UA, d: Dialog, callee: UA, uas: Dialog) -> None:
    callee.in_dialog(uas, "BYE")
    bye = caller.request("BYE", call_id=d.call_id, timeout=10)
    caller.respond(bye, 200, "OK")
    assert callee.response(uas.call_id, "BYE", final=True, timeout=10).status == 200


def test_internal_call_answered_every_contact_rings_bye_both_ways(env: Env) -> None:
    alice = env.phone("alice")
    bob1, bob2 = env.phone("bob"), env.phone("bob")
    d = alice.invite("102", body=sdp(40000), wait_final=False)
    inv1 = bob1.request("INVITE", timeout=10)
    inv2 = bob2.request("INVITE", timeout=10)
    assert inv1.call_id == inv2.call_id != d.call_id  # one B leg, forked by proxy-users to both contacts
    test_call = inv1["x-test-call"]
    assert "origin=endpoint;dialled=102;caller=alice" in test_call
    assert f"company={env.pf.company_id()}" in test_call and "endpoint=terminal:" in test_call
    assert not [h for h in inv1.headers if h[0].lower().startswith("x-info-")]
    assert uri_of(inv1["to"]).startswith("sip:bob@")
    bob2.respond(inv2, 180, "Ringing", to_tag="b2")
    ring = alice.response(d.call_id, "INVITE", timeout=10)
    while ring.status == 100:
        ring = alice.response(d.call_id, "INVITE", timeout=10)
    assert ring.status == 180
    uas = bob1.answer(inv1, body=sdp(40002), ring=False)
    cancel = bob2.request("CANCEL", call_id=inv2.call_id, timeout=10)  # the other contact stops ringing
    bob2.respond(cancel, 200, "OK")
    bob2.respond(inv2, 487, "Request Terminated", to_tag="b2")
    final = alice.wait_final(d, timeout=10)
    assert final.status == 200
    assert sdp_media(final.body)[1] not in (40000, 0)  # the answer went through the app server and rtpengine
    bob1.request("ACK", call_id=inv1.call_id, timeout=10)
    bye_both_ways(alice, d, bob1, inv1, uas)
    # second call: the callee hangs up
    d = alice.invite("102", body=sdp(40004), wait_final=False)
    inv1 = bob1.request("INVITE", timeout=10)
    inv2 = bob2.request("INVITE", timeout=10)
    bob2.respond(inv2, 180, "Ringing", to_tag="b2")  # Kamailio cancels a branch only after a 1xx
    time.sleep(0.3)  # (let proxy-users see that 1xx before the other contact's 200)
    uas = bob1.answer(inv1, body=sdp(40006))
    cancel = bob2.request("CANCEL", call_id=inv2.call_id, timeout=10)
    bob2.respond(cancel, 200, "OK")
    bob2.respond(inv2, 487, "Request Terminated", to_tag="b2")
    assert alice.wait_final(d, timeout=10).status == 200
    bob1.request("ACK", call_id=inv1.call_id, timeout=10)
    callee_hangs_up(alice, d, bob1, uas)


def _ring(callee: UA, inv: Message, tag: str) -> None:
    callee.respond(inv, 180, "Ringing", to_tag=tag)


def _final(ua: UA, d: Dialog) -> Message:
    return ua.wait_final(d, timeout=15)


def test_caller_cancels_every_leg(env: Env) -> None:
    alice = env.phone("alice")
    carol, dave = env.phone(CAROL), env.phone(DAVE)
    d = alice.invite("293", body=sdp(40010), wait_final=False)  # 293 → carol and dave in parallel
    inv_c = carol.request("INVITE", timeout=10)
    inv_d = dave.request("INVITE", timeout=10)
    assert inv_c.call_id != inv_d.call_id  # two UAC legs of the application server
    _ring(carol, inv_c, "c1")
    _ring(dave, inv_d, "d1")
    r = alice.response(d.call_id, "INVITE", timeout=10)
    while r.status == 100:
        r = alice.response(d.call_id, "INVITE", timeout=10)
    assert r.status == 180
    alice.cancel(d)
    for ua, inv, tag in ((carol, inv_c, "c1"), (dave, inv_d, "d1")):
        cancel = ua.request("CANCEL", call_id=inv.call_id, timeout=10)
        ua.respond(cancel, 200, "OK")
        ua.respond(inv, 487, "Request Terminated", to_tag=tag)
    assert _final(alice, d).status == 487


def test_callee_busy_relayed_through_script_after(env: Env) -> None:
    alice = env.phone("alice")
    bob2 = env.phone(BOB2)
    d = alice.invite("291", body=sdp(40020), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    bob2.respond(inv, 486, "Busy Here", to_tag="busy")
    final = _final(alice, d)
    assert (final.status, final.reason) == (486, "Busy Here (after busy 486)")


def test_declined_and_unavailable_outcomes(env: Env) -> None:
    alice = env.phone("alice")
    bob2 = env.phone(BOB2)
    d = alice.invite("291", body=sdp(40022), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    bob2.respond(inv, 603, "Decline", to_tag="dec")
    final = _final(alice, d)
    assert (final.status, final.reason) == (603, "Decline (after rejected 603)")
    # dave is not registered: proxy-users answers 480 → unavailable
    d = alice.invite("294", body=sdp(40024), wait_final=False)
    final = _final(alice, d)
    assert (final.status, final.reason) == (480, "Temporarily Unavailable (after unavailable 480)")


def test_no_answer_timeout_cancels_the_target(env: Env) -> None:
    alice = env.phone("alice")
    carol = env.phone(CAROL)
    d = alice.invite("292", body=sdp(40030), wait_final=False)  # Dial.timeout = 2 s
    inv = carol.request("INVITE", timeout=10)
    _ring(carol, inv, "na")
    cancel = carol.request("CANCEL", call_id=inv.call_id, timeout=15)
    carol.respond(cancel, 200, "OK")
    carol.respond(inv, 487, "Request Terminated", to_tag="na")
    final = _final(alice, d)
    assert (final.status, final.reason) == (480, "No Answer (after no_answer None)")


def test_parallel_targets_first_answer_wins(env: Env) -> None:
    alice = env.phone("alice")
    carol, dave = env.phone(CAROL), env.phone(DAVE)
    d = alice.invite("293", body=sdp(40040), wait_final=False)
    inv_c = carol.request("INVITE", timeout=10)
    inv_d = dave.request("INVITE", timeout=10)
    _ring(carol, inv_c, "c2")
    # early media from dave is relayed to the caller (183 with SDP)
    dave.respond(inv_d, 183, "Session Progress", body=sdp(40042), to_tag="d2")
    r = alice.response(d.call_id, "INVITE", timeout=10)
    while r.status == 100 or (r.status == 180 and not r.body):
        r = alice.response(d.call_id, "INVITE", timeout=10)
    assert r.status == 183 and "m=audio" in r.body
    uas = dave.answer(inv_d, body=sdp(40042), ring=False)
    cancel = carol.request("CANCEL", call_id=inv_c.call_id, timeout=10)
    carol.respond(cancel, 200, "OK")
    carol.respond(inv_c, 487, "Request Terminated", to_tag="c2")
    assert _final(alice, d).status == 200
    dave.request("ACK", call_id=inv_d.call_id, timeout=10)
    callee_hangs_up(alice, d, dave, uas)


def test_reject_action_and_untrusted_source(env: Env) -> None:
    alice = env.phone("alice")
    d = alice.invite("299", body=sdp(40050), wait_final=False)
    final = _final(alice, d)
    assert (final.status, final.reason) == (403, "Forbidden: test plan refuses 299")
    port = env.servers.workers[0][0]
    intruder = UA("intruder", DOMAIN, ("127.0.0.1", port))  # straight to the app server
    env.pf.uas.append(intruder)
    d = intruder.invite(f"sip:102@127.0.0.1:{port}", body=sdp(40052), auth=False, wait_final=False)
    final = intruder.wait_final(d, timeout=10)
    assert final.status == 403 and "proxies" in final.reason


def test_reinvite_hold_and_info_passthrough(env: Env) -> None:
    alice = env.phone("alice")
    bob2 = env.phone(BOB2)
    d = alice.invite("291", body=sdp(40060), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    uas = bob2.answer(inv, body=sdp(40062))
    assert _final(alice, d).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    hold = sdp(40060).replace("a=sendrecv", "a=sendonly")
    alice.in_dialog(d, "INVITE", body=hold)
    reinv = bob2.request("INVITE", call_id=inv.call_id, timeout=10)
    assert "a=sendonly" in reinv.body
    bob2.respond(reinv, 200, "OK", body=sdp(40062).replace("a=sendrecv", "a=recvonly"), to_tag=uas.local_tag)
    r = alice.response(d.call_id, "INVITE", final=True, timeout=10)
    assert r.status == 200 and "a=recvonly" in r.body
    alice.in_dialog(d, "ACK", cseq=d.cseq)
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    # SIP INFO (DTMF relay) passes through too
    d.cseq += 1
    text = alice.build("INFO", d.remote_target, call_id=d.call_id, from_tag=d.local_tag, to=d.remote_uri,
                       to_tag=d.remote_tag, cseq=d.cseq, route=d.route, from_uri=d.local_uri,
                       body="Signal=5\r\nDuration=160\r\n")
    alice.send(text.replace("application/sdp", "application/dtmf-relay"),
               host_port(uri_of(d.route[0])) if d.route else host_port(d.remote_target))
    assert alice.response(d.call_id, "INFO", final=True, timeout=10).status == 200
    info = bob2.request("INFO", call_id=inv.call_id, timeout=10)
    assert info["content-type"] == "application/dtmf-relay" and info.body.startswith("Signal=5")
    bob2.respond(info, 200, "OK", to_tag=uas.local_tag)
    bye_both_ways(alice, d, bob2, inv, uas)


def test_external_call_leaves_through_trunks_to_carrier(env: Env) -> None:
    carrier = env.trunks.ua("carrier")
    cid, _ = env.data.carrier([carrier], SPAIN_OUT)
    env.data.route("+34", cid)
    env.data.rating("+34")
    alice = env.phone("alice")
    d = alice.invite("+34911234567", body=sdp(40070), wait_final=False)
    inv = carrier.request("INVITE", timeout=15)
    assert inv.uri == f"sip:911234567@127.0.0.1:{carrier.port}"  # routed and transformed by proxy-trunks
    assert "sip:911000001@" in inv["from"]  # Target.from_user (+34911000001) after callerout
    assert "origin=endpoint;dialled=+34911234567;caller=alice" in inv["x-test-call"]
    assert not [h for h in inv.headers if h[0].lower().startswith("x-info-")]
    uas = carrier.answer(inv, body=sdp(40072))
    assert _final(alice, d).status == 200
    carrier.request("ACK", call_id=inv.call_id, timeout=10)
    bye_both_ways(alice, d, carrier, inv, uas)


def test_inbound_ddi_call_reaches_a_phone(env: Env) -> None:
    prov = env.data.provider(SPAIN_IN)
    env.data.ddi("+34955000222", provider=prov)
    bob2 = env.phone(BOB2)
    provider = env.trunks.ua("600111222", domain="provider.example")
    d = provider.invite(f"sip:955000222@{env.trunks.proxy[0]}:{env.trunks.proxy[1]}", body=sdp(40080), auth=False,
                        wait_final=False)
    inv = bob2.request("INVITE", timeout=15)
    assert "origin=inbound;dialled=+34955000222;caller=+34600111222" in inv["x-test-call"]
    assert "ddi=+34955000222" in inv["x-test-call"]
    uas = bob2.answer(inv, body=sdp(40082))
    assert _final(provider, d).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    callee_hangs_up(provider, d, bob2, uas)


def _refer(ua: UA, d: Dialog, refer_to: str) -> None:
    d.cseq += 1
    text = ua.build("REFER", d.remote_target, call_id=d.call_id, from_tag=d.local_tag, to=d.remote_uri,
                    to_tag=d.remote_tag, cseq=d.cseq, route=d.route, from_uri=d.local_uri,
                    extra=[f"Refer-To: <{refer_to}>", f"Referred-By: <{d.local_uri}>"])
    ua.send(text, host_port(uri_of(d.route[0])) if d.route else host_port(d.remote_target))


def test_blind_transfer(env: Env) -> None:
    alice = env.phone("alice")
    bob2, carol = env.phone(BOB2), env.phone(CAROL)
    d = alice.invite("291", body=sdp(40090), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    uas = bob2.answer(inv, body=sdp(40092))
    assert _final(alice, d).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    # bob2 transfers alice to 292 (carol)
    _refer(bob2, uas, f"sip:292@{DOMAIN}")
    assert bob2.response(uas.call_id, "REFER", final=True, timeout=10).status == 202
    n1 = bob2.request("NOTIFY", call_id=uas.call_id, timeout=10)
    bob2.respond(n1, 200, "OK")
    assert n1.body.startswith("SIP/2.0 100") and n1["event"].startswith("refer")
    inv_c = carol.request("INVITE", timeout=10)
    assert "dialled=291" in inv_c["x-test-call"]  # the transfer keeps the call's identity
    uas_c = carol.answer(inv_c, body=sdp(40094))
    carol.request("ACK", call_id=inv_c.call_id, timeout=10)
    reinv = alice.request("INVITE", call_id=d.call_id, timeout=10)  # alice is reconnected to carol's media
    alice.respond(reinv, 200, "OK", body=sdp(40090), to_tag=d.local_tag)
    n2 = bob2.request("NOTIFY", call_id=uas.call_id, timeout=10)
    bob2.respond(n2, 200, "OK")
    assert n2.body.startswith("SIP/2.0 200") and "terminated" in n2["subscription-state"]
    bye = bob2.request("BYE", call_id=uas.call_id, timeout=10)  # the transferor is released
    bob2.respond(bye, 200, "OK")
    alice.request("ACK", call_id=d.call_id, timeout=10)
    d.remote_target = uri_of(reinv["contact"])
    bye_both_ways(alice, d, carol, inv_c, uas_c)


def test_blind_transfer_to_busy_number_is_reported(env: Env) -> None:
    alice = env.phone("alice")
    bob2, dave = env.phone(BOB2), env.phone(DAVE)
    d = alice.invite("291", body=sdp(40100), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    uas = bob2.answer(inv, body=sdp(40102))
    assert _final(alice, d).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    _refer(bob2, uas, f"sip:294@{DOMAIN}")
    assert bob2.response(uas.call_id, "REFER", final=True, timeout=10).status == 202
    inv_d = dave.request("INVITE", timeout=10)
    dave.respond(inv_d, 486, "Busy Here", to_tag="bz")
    notes = []
    while not notes or not notes[-1].body.startswith("SIP/2.0 4"):
        n = bob2.request("NOTIFY", call_id=uas.call_id, timeout=10)
        bob2.respond(n, 200, "OK")
        notes.append(n)
    assert notes[-1].body.startswith("SIP/2.0 486")
    callee_hangs_up(alice, d, bob2, uas)  # the original call is still up


def test_killed_worker_does_not_stop_later_calls(env: Env) -> None:
    pair = env.servers.start(2)
    try:
        env.set_servers([f"127.0.0.1:{p}" for p, _ in pair])  # type: ignore[operator]
        (_p1, w1), (_p2, w2) = pair
        # the phones first: a phone bound to the killed worker's freed port would be taken for
        # an application server
        alice = env.phone("alice")
        bob2 = env.phone(BOB2)
        os.kill(w1.pid, signal.SIGKILL)
        w1.p.wait(10)
        for n in range(3):
            d = alice.invite("291", body=sdp(40110 + 2 * n), wait_final=False, timeout=20)
            inv = bob2.request("INVITE", timeout=20)
            uas = bob2.answer(inv, body=sdp(40111 + 2 * n))
            assert alice.wait_final(d, timeout=20).status == 200
            bob2.request("ACK", call_id=inv.call_id, timeout=10)
            callee_hangs_up(alice, d, bob2, uas)
        assert w2.alive()
        time.sleep(0.1)
    finally:
        for port, proc in pair:
            proc.stop()
            env.servers.workers.remove((port, proc))


# ----------------------------------------------------------------------------- with the real dialplan
@pytest.fixture()
def real(env: Env, as_real: AppServers) -> Env:  # noqa: F811
    env.set_servers([f"127.0.0.1:{p}" for p, _ in as_real.workers])  # type: ignore[operator]
    return Env(env.pf, env.trunks, as_real, env.set_servers, env.data)


def test_real_dialplan_alice_calls_102_bob_answers(real: Env) -> None:
    alice = real.phone("alice")
    bob1, bob2 = real.phone("bob"), real.phone("bob")
    d = alice.invite("102", body=sdp(40200), wait_final=False)
    inv1 = bob1.request("INVITE", timeout=10)
    inv2 = bob2.request("INVITE", timeout=10)
    assert "sip:101@" in inv1["from"]  # the caller is presented by its extension
    _ring(bob2, inv2, "r2")
    time.sleep(0.3)  # (let proxy-users see that 1xx before the other contact's 200)
    uas = bob1.answer(inv1, body=sdp(40202))
    cancel = bob2.request("CANCEL", call_id=inv2.call_id, timeout=10)
    bob2.respond(cancel, 200, "OK")
    bob2.respond(inv2, 487, "Request Terminated", to_tag="r2")
    assert _final(alice, d).status == 200
    bob1.request("ACK", call_id=inv1.call_id, timeout=10)
    callee_hangs_up(alice, d, bob1, uas)


def test_real_dialplan_busy_user(real: Env) -> None:
    alice = real.phone("alice")
    bob2 = real.phone(BOB2)
    d = alice.invite("291", body=sdp(40210), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    bob2.respond(inv, 486, "Busy Here", to_tag="rb")
    assert _final(alice, d).status == 486


def test_real_dialplan_inbound_ddi_to_user_and_blind_transfer(real: Env) -> None:
    uid = _user_id(real.pf, BOB2)
    prov = real.data.provider(SPAIN_IN)
    ddi = real.data.ddi("+34955000333", provider=prov)
    real.data.update("Ddi", ddi, client=real.data.company, routeType="user", user=uid)  # the client routes it
    bob2, carol = real.phone(BOB2), real.phone(CAROL)
    provider = real.trunks.ua("600111333", domain="provider.example")
    d = provider.invite(f"sip:955000333@{real.trunks.proxy[0]}:{real.trunks.proxy[1]}", body=sdp(40220),
                        auth=False, wait_final=False)
    inv = bob2.request("INVITE", timeout=15)
    uas = bob2.answer(inv, body=sdp(40222))
    assert _final(provider, d).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    _refer(bob2, uas, f"sip:292@{DOMAIN}")  # extension 292 → ascarol
    assert bob2.response(uas.call_id, "REFER", final=True, timeout=10).status == 202
    inv_c = carol.request("INVITE", timeout=10)
    uas_c = carol.answer(inv_c, body=sdp(40224))
    carol.request("ACK", call_id=inv_c.call_id, timeout=10)
    reinv = provider.request("INVITE", call_id=d.call_id, timeout=10)
    provider.respond(reinv, 200, "OK", body=sdp(40220), to_tag=d.local_tag)
    got = set()
    while "bye" not in got:
        m = bob2.request(call_id=uas.call_id, timeout=10)
        bob2.respond(m, 200, "OK")
        got.add(m.method.lower())
    callee_hangs_up(provider, d, carol, uas_c)


def test_attended_transfer_with_replaces(env: Env) -> None:
    alice = env.phone("alice")
    bob2, carol = env.phone(BOB2), env.phone(CAROL)
    # call 1: alice → 291 (asbob)
    d1 = alice.invite("291", body=sdp(40300), wait_final=False)
    inv1 = bob2.request("INVITE", timeout=10)
    uas1 = bob2.answer(inv1, body=sdp(40302))
    assert _final(alice, d1).status == 200
    bob2.request("ACK", call_id=inv1.call_id, timeout=10)
    # call 2: asbob → 292 (ascarol)
    bob2.password = PASSWORDS[BOB2]
    d2 = bob2.invite("292", body=sdp(40304), wait_final=False)
    inv2 = carol.request("INVITE", timeout=10)
    uas2 = carol.answer(inv2, body=sdp(40306))
    assert _final(bob2, d2).status == 200
    carol.request("ACK", call_id=inv2.call_id, timeout=10)
    # asbob connects alice with carol: REFER on call 1 replacing call 2
    replaces = f"{d2.call_id}%3Bto-tag%3D{d2.remote_tag}%3Bfrom-tag%3D{d2.local_tag}"
    _refer(bob2, uas1, f"sip:292@{DOMAIN}?Replaces={replaces}")
    assert bob2.response(uas1.call_id, "REFER", final=True, timeout=10).status == 202
    reinv_a = alice.request("INVITE", call_id=d1.call_id, timeout=10)
    alice.respond(reinv_a, 200, "OK", body=sdp(40300), to_tag=d1.local_tag)
    reinv_c = carol.request("INVITE", call_id=inv2.call_id, timeout=10)
    carol.respond(reinv_c, 200, "OK", body=sdp(40306), to_tag=uas2.local_tag)
    byes, notify_ok = set(), False
    while len(byes) < 2:
        m = bob2.request(timeout=10)
        bob2.respond(m, 200, "OK")
        if m.method == "NOTIFY" and m.body.startswith("SIP/2.0 200"):
            notify_ok = True
        if m.method == "BYE":
            byes.add(m.call_id)
    assert notify_ok and byes == {uas1.call_id, d2.call_id}  # the transferor's two calls are released
    alice.request("ACK", call_id=d1.call_id, timeout=10)
    carol.request("ACK", call_id=inv2.call_id, timeout=10)
    d1.remote_target = uri_of(reinv_a["contact"])
    bye_both_ways(alice, d1, carol, inv2, uas2)


def test_late_offer_invite_without_sdp(env: Env) -> None:
    alice = env.phone("alice")
    bob2 = env.phone(BOB2)
    d = alice.invite("291", body="", wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    assert not inv.body.strip() or "m=audio" not in inv.body
    uas = bob2.answer(inv, body=sdp(40402))  # the callee makes the offer in its 200
    final = alice.response(d.call_id, "INVITE", final=True, timeout=10)
    assert final.status == 200 and "m=audio" in final.body
    d.remote_tag, d.remote_target = final.tag("to"), uri_of(final["contact"])
    d.route = list(reversed(final.values("record-route")))
    alice.in_dialog(d, "ACK", cseq=d.cseq, body=sdp(40400))  # the caller's answer travels in its ACK
    ack = bob2.request("ACK", call_id=inv.call_id, timeout=10)
    assert "m=audio" in ack.body  # ... and reaches the callee in the app server's ACK
    bye_both_ways(alice, d, bob2, inv, uas)


# ----------------------------------------------------------------------------- processes
def test_polyvox_up_supervises_one_role_per_worker(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from polyvox import config
    from polyvox.cli import appserver_roles

    monkeypatch.setenv("POLYVOX_HOME", str(tmp_path))
    monkeypatch.setenv("POLYVOX_AS_WORKERS", "3")
    monkeypatch.setenv("POLYVOX_AS_PORT", "6160")
    roles, _ = appserver_roles(config.load(), "127.0.0.1")
    workers = [r for r in roles if r.name.startswith("appserver-")]
    assert [r.name for r in workers] == ["appserver-6160", "appserver-6161", "appserver-6162"]
    assert workers[1].argv[-6:] == ["--host", "127.0.0.1", "--port", "6161", "--workers", "1"]


def test_appserver_command_runs_n_workers_and_restarts_a_dead_one(env: Env) -> None:
    import json
    import sys

    from tests.sip.conftest import _wait_ready, free_port
    from tests.sip.fixtures_appserver import PLAN, ROOT, TEST_DIALPLAN, _Proc

    base = free_port(False)
    while not all(_udp_free(base + i) for i in range(2)):
        base = free_port(False)
    log = env.pf.tmp / f"appserver-sup-{base}.log"
    env_vars = {**os.environ, "POLYVOX_DATABASE_URL": env.pf.url, "POLYVOX_HOME": str(env.pf.tmp / "home"),
                "POLYVOX_SIP_HOST": "127.0.0.1", "POLYVOX_SIP_USERS_PORT": str(env.pf.proxy[1]),
                "POLYVOX_SIP_TRUNKS_PORT": str(env.trunks.proxy[1]), "POLYVOX_AS_TEST_PLAN": json.dumps(PLAN),
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    sup = _Proc([sys.executable, "-m", "polyvox.cli", "appserver", "--host", "127.0.0.1", "--port", str(base),
                 "--workers", "2", "--dialplan", TEST_DIALPLAN], log, "appserver-sup", env_vars)
    try:
        _wait_ready(("127.0.0.1", base), sup, 30)
        _wait_ready(("127.0.0.1", base + 1), sup, 30)
        kids = _children(sup.pid)
        assert len(kids) == 2
        os.kill(kids[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (kids[0] in _children(sup.pid) or len(_children(sup.pid)) < 2):
            time.sleep(0.2)
        assert len(_children(sup.pid)) == 2 and kids[0] not in _children(sup.pid)
        _wait_ready(("127.0.0.1", base), sup, 30)  # the restarted worker answers on the same port
        assert "restarting" in sup.tail()
    finally:
        sup.stop(15)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _udp_free(port: int) -> bool:
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_presence_counts_the_callers_calls_in_progress(env: Env) -> None:
    alice = env.phone("alice")
    bob2, carol = env.phone(BOB2), env.phone(CAROL)
    d1 = alice.invite("291", body=sdp(40500), wait_final=False)
    inv1 = bob2.request("INVITE", timeout=10)

    def active(inv: Message) -> int:
        return int(inv["x-test-call"].rsplit("active=", 1)[1])

    base = active(inv1)  # this call (and any call a failed earlier test left in the worker)
    assert base >= 1
    uas1 = bob2.answer(inv1, body=sdp(40502))
    assert _final(alice, d1).status == 200
    bob2.request("ACK", call_id=inv1.call_id, timeout=10)
    d2 = alice.invite("292", body=sdp(40504), wait_final=False)
    inv2 = carol.request("INVITE", timeout=10)
    assert active(inv2) == base + 1  # alice is already in a call
    carol.respond(inv2, 486, "Busy Here", to_tag="pb")
    assert _final(alice, d2).status == 486
    callee_hangs_up(alice, d1, bob2, uas1)
    d3 = alice.invite("291", body=sdp(40506), wait_final=False)
    inv3 = bob2.request("INVITE", timeout=10)
    assert active(inv3) == base  # both earlier calls released
    bob2.respond(inv3, 603, "Decline", to_tag="pd")
    assert _final(alice, d3).status == 603


# ----------------------------------------------------------------------------- pure parts of the executor
def test_outcome_of_failed_branches() -> None:
    from polyvox.appserver.plan import DialResult
    from polyvox.appserver.runtime.executor import classify

    assert classify([]) == (DialResult.UNAVAILABLE, None)
    assert classify([480, 486]) == (DialResult.BUSY, 486)
    assert classify([600]) == (DialResult.BUSY, 600)
    assert classify([486, 603]) == (DialResult.REJECTED, 603)
    assert classify([604]) == (DialResult.REJECTED, 604)
    assert classify([503, 408, 480]) == (DialResult.UNAVAILABLE, 408)
    assert classify([503, 500]) == (DialResult.UNAVAILABLE, 500)


def test_incoming_call_from_headers() -> None:
    from datetime import UTC, datetime

    from polyvox.appserver.plan import Origin
    from polyvox.appserver.runtime.executor import BadContext, Peers, incoming_call
    from polyvox.appserver.runtime.legs import InviteInfo

    peers = Peers(users=("10.0.0.1", 5060), trunks=("10.0.0.1", 7060), local=("10.0.0.2", 6060))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = {"x-info-brandid": "1", "x-info-companyid": "7", "x-info-type": "vpbx", "via": "x"}

    def info(source: tuple[str, int], headers: dict[str, str], user: str = "102") -> InviteInfo:
        return InviteInfo(call_id="c1", source=source, ruri_user=user, ruri_host="d", from_user="alice",
                          from_host="d", from_name="Alice", sdp=None, headers=headers, diversion=("<sip:1@d>",))

    c = incoming_call(info(peers.users, {**base, "x-info-endpointtype": "terminal", "x-info-endpointid": "3",
                                         "x-info-userid": "9"}), peers, now)
    assert (c.origin, c.company_id, c.brand_id, c.dialled, c.caller, c.caller_name, c.endpoint_id, c.user_id) == \
        (Origin.ENDPOINT, 7, 1, "102", "alice", "Alice", 3, 9)
    assert "via" not in c.headers and c.diversion == ("<sip:1@d>",) and c.now == now
    c = incoming_call(info(peers.trunks, {**base, "x-info-caller": "+34600", "x-info-ddi": "+34955",
                                          "x-info-ddiid": "4"}), peers, now)
    assert (c.origin, c.caller, c.ddi, c.ddi_id) == (Origin.INBOUND, "+34600", "+34955", 4)
    c = incoming_call(info(peers.trunks, {**base, "x-info-bounced": "yes"}), peers, now)
    assert c.origin == Origin.BOUNCED
    with pytest.raises(BadContext, match="missing x-info-companyid"):
        incoming_call(info(peers.users, {"x-info-brandid": "1"}), peers, now)
    with pytest.raises(BadContext, match="invalid x-info-companyid"):
        incoming_call(info(peers.users, {**base, "x-info-companyid": "x"}), peers, now)
    with pytest.raises(BadContext, match="unknown source"):
        incoming_call(info(("10.0.0.1", 5999), base), peers, now)


def test_sipp_calls_through_the_app_server(env: Env) -> None:
    """20 calls, 5 per second, sipp UAC (alice, digest) → proxy-users → app server → proxy-users →
    a registered sipp UAS (asdave's contact): every call answered and hung up (uses the scenarios
    of the capacity benchmark)."""
    uas_port = free_port(False)
    dave = env.pf.ua(DAVE, PASSWORDS[DAVE])
    assert dave.register(contact=f"<sip:{DAVE}@127.0.0.1:{uas_port}>").status == 200
    uas = env.pf.sipp_start("uas.xml", "-m", "20", port=uas_port, remote=False, timeout=60)
    time.sleep(0.3)
    try:
        uac = env.pf.sipp("uac_auth_call.xml", "-m", "20", "-r", "5", timeout=60,
                          csv=f"alice;{DOMAIN};[authentication username=alice password={ALICE_PW}];294")
        srv = uas.result(30)
    finally:
        uas.stop()
        dave.register(expires=0, contact=f"<sip:{DAVE}@127.0.0.1:{uas_port}>")
    assert uac.rc == 0, uac.output
    assert srv.rc == 0, srv.output
    assert srv.messages.count(f"INVITE sip:{DAVE}@127.0.0.1:{uas_port}") == 20


def test_stopping_a_worker_ends_its_calls(env: Env) -> None:
    ((port, worker),) = env.servers.start(1)
    try:
        env.set_servers([f"127.0.0.1:{port}"])  # type: ignore[operator]
        alice = env.phone("alice")
        bob2, carol = env.phone(BOB2), env.phone(CAROL)
        d = alice.invite("291", body=sdp(40600), wait_final=False)
        inv = bob2.request("INVITE", timeout=10)
        bob2.answer(inv, body=sdp(40602))
        assert _final(alice, d).status == 200
        bob2.request("ACK", call_id=inv.call_id, timeout=10)
        d2 = alice.invite("292", body=sdp(40604), wait_final=False)
        inv2 = carol.request("INVITE", timeout=10)
        _ring(carol, inv2, "st")
        os.kill(worker.pid, signal.SIGTERM)  # graceful stop: calls are ended, not dropped
        for ua, call_id in ((alice, d.call_id), (bob2, inv.call_id)):
            bye = ua.request("BYE", call_id=call_id, timeout=10)
            ua.respond(bye, 200, "OK")
        cancel = carol.request("CANCEL", call_id=inv2.call_id, timeout=10)
        carol.respond(cancel, 200, "OK")
        carol.respond(inv2, 487, "Request Terminated", to_tag="st")
        final = alice.wait_final(d2, timeout=10)
        assert final.status == 500  # our 503; proxies turn a relayed 503 into 500 (RFC 3261 §16.7)
        assert worker.p.wait(15) == 0
    finally:
        worker.stop()
        env.servers.workers.remove((port, worker))


def test_dialplan_failures_and_a_slow_dialplan_do_not_freeze_calls(env: Env) -> None:
    alice = env.phone("alice")
    bob2 = env.phone(BOB2)
    d = alice.invite("298", body=sdp(40700), wait_final=False)  # the dialplan raises
    final = _final(alice, d)
    assert final.status == 500 and "dialplan failed" in final.reason
    d1 = alice.invite("291", body=sdp(40702), wait_final=False)
    inv1 = bob2.request("INVITE", timeout=10)
    uas1 = bob2.answer(inv1, body=sdp(40704))
    assert _final(alice, d1).status == 200
    bob2.request("ACK", call_id=inv1.call_id, timeout=10)
    # 297: the dialplan takes 6 s (a stuck database) with a 5 s limit
    d2 = alice.invite("297", body=sdp(40706), wait_final=False)
    time.sleep(0.5)
    bob2.in_dialog(uas1, "BYE")  # meanwhile the established call still hangs up normally
    first = alice.recv(lambda m: (m.is_request and m.method == "BYE" and m.call_id == d1.call_id)
                       or (not m.is_request and m.call_id == d2.call_id and m.status >= 200), timeout=15)
    assert first.is_request, "the BYE waited for the dialplan"
    alice.respond(first, 200, "OK")
    assert bob2.response(uas1.call_id, "BYE", final=True, timeout=10).status == 200
    final = _final(alice, d2)
    assert final.status == 500 and "dialplan failed" in final.reason
    d3 = alice.invite("291", body=sdp(40708), wait_final=False)  # queued behind the slow one, then fine
    inv3 = bob2.request("INVITE", timeout=15)
    bob2.respond(inv3, 486, "Busy Here", to_tag="q")
    assert _final(alice, d3).status == 486


def test_blond_transfer_replaces_a_ringing_call(env: Env) -> None:
    alice = env.phone("alice")
    bob2, carol = env.phone(BOB2), env.phone(CAROL)
    d1 = alice.invite("291", body=sdp(40800), wait_final=False)
    inv1 = bob2.request("INVITE", timeout=10)
    uas1 = bob2.answer(inv1, body=sdp(40802))
    assert _final(alice, d1).status == 200
    bob2.request("ACK", call_id=inv1.call_id, timeout=10)
    bob2.password = PASSWORDS[BOB2]
    d2 = bob2.invite("292", body=sdp(40804), wait_final=False)  # asbob calls carol, who rings
    inv2 = carol.request("INVITE", timeout=10)
    _ring(carol, inv2, "bl")
    replaces = f"{d2.call_id}%3Bto-tag%3Dx%3Bfrom-tag%3D{d2.local_tag}"
    _refer(bob2, uas1, f"sip:292@{DOMAIN}?Replaces={replaces}")
    assert bob2.response(uas1.call_id, "REFER", final=True, timeout=10).status == 202
    carol.respond(inv2, 200, "OK", body=sdp(40806), to_tag="bl")  # carol answers: alice gets her
    carol.request("ACK", call_id=inv2.call_id, timeout=10)
    reinv_a = alice.request("INVITE", call_id=d1.call_id, timeout=10)
    alice.respond(reinv_a, 200, "OK", body=sdp(40800), to_tag=d1.local_tag)
    reinv_c = carol.request("INVITE", call_id=inv2.call_id, timeout=10)
    carol.respond(reinv_c, 200, "OK", body=sdp(40806), to_tag="bl")
    final2 = bob2.wait_final(d2, timeout=10)
    assert final2.status == 487  # asbob's own ringing call gives way
    got = set()
    while "BYE" not in got:
        m = bob2.request(call_id=uas1.call_id, timeout=10)
        bob2.respond(m, 200, "OK")
        got.add(m.method)
    alice.request("ACK", call_id=d1.call_id, timeout=10)
    carol.request("ACK", call_id=inv2.call_id, timeout=10)
    d1.remote_target = uri_of(reinv_a["contact"])
    uas_c = Dialog(call_id=inv2.call_id, local_tag="bl", remote_tag=inv2.tag("from"), local_uri=uri_of(inv2["to"]),
                   remote_uri=uri_of(inv2["from"]), remote_target=uri_of(inv2["contact"]),
                   route=inv2.values("record-route"), invite=inv2)
    bye_both_ways(alice, d1, carol, inv2, uas_c)


# ----------------------------------------------------------------------------- hunt groups (real dialplan)
def _user_id(pf: Platform, terminal: str) -> int:
    client = pf.prov.client(pf.company_id())
    tid = client.list("terminals", name=terminal)[0]["id"]
    return int(next(u["id"] for u in client.list("users", terminal=tid)))


def _ringing(ua: UA, inv: Message, tag: str) -> None:
    ua.respond(inv, 180, "Ringing", to_tag=tag)


def _cancelled(ua: UA, inv: Message, tag: str, timeout: float = 20) -> Message:
    cancel = ua.request("CANCEL", call_id=inv.call_id, timeout=timeout)
    ua.respond(cancel, 200, "OK")
    ua.respond(inv, 487, "Request Terminated", to_tag=tag)
    return cancel


def test_hunt_group_member_timeout_prevent_missed_calls_and_member_forward(real: Env) -> None:
    """Spec 10.1.5 with real SIP: a ringAll member with its own timeout gets a plain CANCEL at it
    while the others keep ringing; with "prevent missed calls" the losing member's CANCEL carries
    ``Reason: SIP;cause=200;text="Call completed elsewhere"``; with "allow call forwards" a
    member's no-answer forward rings in its place after its noAnswerTimeout."""
    pf, data = real.pf, real.data
    bob2_id, carol_id = _user_id(pf, BOB2), _user_id(pf, CAROL)
    company = pf.company_id()
    hg = data.create("HuntGroup", company=company, name="as-hg", description="", strategy="ringAll",
                     ringAllTimeout=20, preventMissedCalls=0, allowCallForwards=0)
    # ringAll members have no priority
    m_bob = data.create("HuntGroupMember", company=company, huntGroup=hg, routeType="user", user=bob2_id,
                        timeoutTime=2)
    data.create("HuntGroupMember", company=company, huntGroup=hg, routeType="user", user=carol_id)
    data.create("Extension", company=company, number="286", routeType="huntGroup", huntGroup=hg)
    alice, bob2, carol, dave = real.phone("alice"), real.phone(BOB2), real.phone(CAROL), real.phone(DAVE)

    # 1. asbob's branch is cancelled alone at its 2 s (no Reason), carol keeps ringing and answers
    d = alice.invite("286", body=sdp(40600), wait_final=False)
    inv_b, inv_c = bob2.request("INVITE", timeout=10), carol.request("INVITE", timeout=10)
    _ringing(bob2, inv_b, "hb1")
    _ringing(carol, inv_c, "hc1")
    t0 = time.monotonic()
    cancel = _cancelled(bob2, inv_b, "hb1")
    assert time.monotonic() - t0 >= 1.0  # cancelled at its own timeout, not at once
    assert cancel.get("reason") is None
    uas = carol.answer(inv_c, body=sdp(40602), ring=False)
    assert _final(alice, d).status == 200
    carol.request("ACK", call_id=inv_c.call_id, timeout=10)
    callee_hangs_up(alice, d, carol, uas)

    # 2. prevent missed calls: carol answers, asbob's CANCEL says the call was completed elsewhere
    data.update("HuntGroup", hg, client=company, preventMissedCalls=1)
    data.update("HuntGroupMember", m_bob, client=company, timeoutTime=None)
    d = alice.invite("286", body=sdp(40610), wait_final=False)
    inv_b, inv_c = bob2.request("INVITE", timeout=10), carol.request("INVITE", timeout=10)
    _ringing(bob2, inv_b, "hb2")
    _ringing(carol, inv_c, "hc2")
    time.sleep(0.3)
    uas = carol.answer(inv_c, body=sdp(40612), ring=False)
    cancel = _cancelled(bob2, inv_b, "hb2")
    reason = cancel.get("reason") or ""
    assert "cause=200" in reason and "Call completed elsewhere" in reason, cancel
    assert _final(alice, d).status == 200
    carol.request("ACK", call_id=inv_c.call_id, timeout=10)
    callee_hangs_up(alice, d, carol, uas)

    # 3. allow call forwards: asbob's no-answer forward (2 s) to extension 294 rings asdave instead
    data.update("HuntGroup", hg, client=company, allowCallForwards=1)
    ext294 = next(x["id"] for x in pf.prov.client(company).list("extensions") if x["number"] == "294")
    data.create("CallForwardSetting", company=company, user=bob2_id, callForwardType="noAnswer",
                callTypeFilter="both", targetType="extension", extension=ext294, noAnswerTimeout=2, enabled=True)
    d = alice.invite("286", body=sdp(40620), wait_final=False)
    inv_b, inv_c = bob2.request("INVITE", timeout=10), carol.request("INVITE", timeout=10)
    _ringing(bob2, inv_b, "hb3")
    _ringing(carol, inv_c, "hc3")
    _cancelled(bob2, inv_b, "hb3")  # its noAnswerTimeout
    inv_d = dave.request("INVITE", timeout=15)  # the forward rings in its place
    uas = dave.answer(inv_d, body=sdp(40622))
    cancel = _cancelled(carol, inv_c, "hc3")
    assert "Call completed elsewhere" in (cancel.get("reason") or "")
    assert _final(alice, d).status == 200
    dave.request("ACK", call_id=inv_d.call_id, timeout=10)
    callee_hangs_up(alice, d, dave, uas)
