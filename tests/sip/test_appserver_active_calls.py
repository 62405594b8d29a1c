"""Active calls per client (spec 10.1.14 "Active calls") with real SIP traffic: phones through
proxy-users, a real ``polyvox appserver`` worker (test dialplan) publishing its calls' entries in
``appserver_active_calls``, proxy-trunks for the external calls, and ``/my/active_calls`` of the
API merging both sources (one entry per entity involved).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from polyvox.api.app import create_app
from polyvox.appserver.active import Publisher
from polyvox.db.appserver_state import appserver_active_calls
from polyvox.platform import control
from tests.sip.conftest import DOMAIN, Platform, Trunks
from tests.sip.fixtures_appserver import BOB2, CAROL, AppServers
from tests.sip.test_appserver_runtime import Env, _ensure_terminals, _user_id, bye_both_ways, callee_hangs_up
from tests.sip.test_appserver_runtime import _refer as refer
from tests.sip.test_trunks import SPAIN_IN, SPAIN_OUT, Data
from tests.sip.ua import rand, sdp, uri_of

SECRET = "test-secret-for-polyvox-api-tests-0123456789"


@pytest.fixture(scope="module")
def as_active(platform: Platform, trunks_platform: Trunks) -> Iterator[AppServers]:
    """A worker of its own (publishing into ``appserver_active_calls``, created by migration 0002)."""
    a = AppServers(platform, trunks_platform)
    try:
        a.start(1)
        yield a
    finally:
        a.stop()


@pytest.fixture()
def env(pv: Platform, trunks: Trunks, as_active: AppServers, app_servers: Any,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    _ensure_terminals(pv)
    app_servers([f"127.0.0.1:{p}" for p, proc in as_active.workers if proc.alive()])
    monkeypatch.setenv(control.ENV_TARGET, f"fifo:{trunks.settings.rundir}/kamailio_rpc.fifo")
    company = pv.company_id()
    data = Data(trunks, pv.prov.brand_of(company), company)
    e = Env(pv, trunks, as_active, app_servers, data)
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


class Api:
    def __init__(self, http: TestClient, env: Env) -> None:
        self.http, self.env = http, env
        self.client = self.login("client", "democompany")
        self.brand = self.login("brand", "demo")
        other = env.data.client("vpbx", f"other-{rand(4)}", domainUsers=f"other-{rand(4)}.test")
        r = http.post("/api/client/token/exchange", data={"token": self.brand, "clientId": other})
        assert r.status_code == 201, r.text
        self.other = str(r.json()["token"])
        self.other_id = other

    def login(self, level: str, username: str) -> str:
        r = self.http.post(f"/api/{level}/admin_login", data={"username": username, "password": "changeme"})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def get(self, level: str, token: str, **params: Any) -> dict[str, Any]:
        r = self.http.get(f"/api/{level}/my/active_calls", headers={"Authorization": f"Bearer {token}"},
                          params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def calls(self, level: str = "client", token: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(level, token or self.client, _details=1, **params)["calls"])

    def wait(self, pred: Callable[[list[dict[str, Any]]], bool], level: str = "client", token: str | None = None,
             timeout: float = 15.0, **params: Any) -> list[dict[str, Any]]:
        """The client's entries once ``pred`` holds (the worker writes them asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls(level, token, **params)
            if pred(calls):
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"active calls never matched: {calls}")
            time.sleep(0.1)


@pytest.fixture()
def api(env: Env) -> Iterator[Api]:
    with TestClient(create_app(env.pf.engine, SECRET)) as http:
        yield Api(http, env)


def user_id(env: Env, terminal: str) -> int:
    return _user_id(env.pf, terminal)


def view(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((c["source"], c["direction"], c["ownerType"], c["ownerId"], c["party"], c["state"]) for c in calls)


def test_internal_call_one_entry_per_user_ringing_answered_ended(env: Env, api: Api) -> None:
    alice_id, bob_id = user_id(env, "alice"), user_id(env, "bob")
    alice, bob = env.phone("alice"), env.phone("bob")
    assert api.calls() == []
    d = alice.invite("102", body=sdp(40400), wait_final=False)
    inv = bob.request("INVITE", timeout=10)
    # the callee's phone has not answered anything yet: its leg is in call setup, the caller hears
    # the application server's ring back
    calls = api.wait(lambda cs: len(cs) == 2)
    assert view(calls) == [("appserver", "inbound", "user", bob_id, "101", "trying"),
                           ("appserver", "outbound", "user", alice_id, "102", "early")]
    assert {c["callId"] for c in calls} == {d.call_id}
    assert {c["companyId"] for c in calls} == {env.pf.company_id()}
    assert {c["ownerName"] for c in calls} == {"Alice Demo", "Bob Demo"}  # name and last name
    assert all(c["answerTime"] is None and c["startTime"] for c in calls)
    bob.respond(inv, 180, "Ringing", to_tag="bobring")
    calls = api.wait(lambda cs: [c["state"] for c in cs] == ["early", "early"])
    assert view(calls) == [("appserver", "inbound", "user", bob_id, "101", "early"),
                           ("appserver", "outbound", "user", alice_id, "102", "early")]
    assert api.get("client", api.client) == {"inbound": 1, "outbound": 1, "total": 2}
    uas = bob.answer(inv, body=sdp(40402), ring=False)
    assert alice.wait_final(d, timeout=10).status == 200
    bob.request("ACK", call_id=inv.call_id, timeout=10)
    calls = api.wait(lambda cs: [c["state"] for c in cs] == ["confirmed", "confirmed"])
    assert view(calls) == [("appserver", "inbound", "user", bob_id, "101", "confirmed"),
                           ("appserver", "outbound", "user", alice_id, "102", "confirmed")]
    assert all(c["answerTime"] for c in calls)
    # another client sees none; the brand sees both (and narrows by client)
    assert api.get("client", api.other) == {"inbound": 0, "outbound": 0, "total": 0}
    assert api.calls(token=api.other) == []
    brand = [c for c in api.calls("brand", api.brand) if c["callId"] == d.call_id]
    assert view(brand) == view(calls)
    assert [c for c in api.calls("brand", api.brand, company=api.other_id) if c["callId"] == d.call_id] == []
    assert api.get("brand", api.brand, company=env.pf.company_id()) == {"inbound": 1, "outbound": 1, "total": 2}
    bye_both_ways(alice, d, bob, inv, uas)
    api.wait(lambda cs: cs == [])
    assert api.get("client", api.client) == {"inbound": 0, "outbound": 0, "total": 0}


def test_cancelled_call_and_unanswered_targets_vanish(env: Env, api: Api) -> None:
    alice = env.phone("alice")
    bob = env.phone("bob")
    d = alice.invite("102", body=sdp(40410), wait_final=False)
    inv = bob.request("INVITE", timeout=10)
    bob.respond(inv, 180, "Ringing", to_tag="bc")  # a UAC leg is cancelled only after a 1xx
    api.wait(lambda cs: [c["state"] for c in cs] == ["early", "early"])
    alice.cancel(d)
    cancel = bob.request("CANCEL", call_id=inv.call_id, timeout=10)
    bob.respond(cancel, 200, "OK")
    bob.respond(inv, 487, "Request Terminated", to_tag="bc")
    assert alice.wait_final(d, timeout=15).status == 487
    api.wait(lambda cs: cs == [])


def test_external_calls_are_counted_once_per_entity(env: Env, api: Api) -> None:
    """Outbound: the caller's entry only (proxy-trunks' dialog of the same call adds no row);
    inbound to a DDI: the callee's entry only."""
    carrier = env.trunks.ua("carrier")
    cid, _ = env.data.carrier([carrier], SPAIN_OUT)
    env.data.route("+34", cid)
    env.data.rating("+34")
    prov = env.data.provider(SPAIN_IN)
    env.data.ddi("+34955000222", provider=prov)
    alice_id, bob2_id = user_id(env, "alice"), user_id(env, BOB2)
    alice, bob2 = env.phone("alice"), env.phone(BOB2)
    d = alice.invite("+34911234567", body=sdp(40420), wait_final=False)
    inv = carrier.request("INVITE", timeout=15)
    uas = carrier.answer(inv, body=sdp(40422))
    assert alice.wait_final(d, timeout=15).status == 200
    carrier.request("ACK", call_id=inv.call_id, timeout=10)
    # proxy-trunks does have the call (one outbound dialog) ...
    trunk = [c for c in control.active_calls() if c["companyId"] == env.pf.company_id()]
    assert [(c["direction"], c["state"]) for c in trunk] == [("outbound", "confirmed")]
    # ... but the client sees one entry: Alice's, her party the number she called
    calls = api.wait(lambda cs: len(cs) == 1 and cs[0]["state"] == "confirmed")
    assert view(calls) == [("appserver", "outbound", "user", alice_id, "+34911234567", "confirmed")]
    assert api.get("client", api.client) == {"inbound": 0, "outbound": 1, "total": 1}
    assert len([c for c in api.calls("platform", api.login("platform", "admin"))
                if c["companyId"] == env.pf.company_id()]) == 1
    bye_both_ways(alice, d, carrier, inv, uas)
    api.wait(lambda cs: cs == [])

    provider = env.trunks.ua("600111222", domain="provider.example")
    d = provider.invite(f"sip:955000222@{env.trunks.proxy[0]}:{env.trunks.proxy[1]}", body=sdp(40424), auth=False,
                        wait_final=False)
    inv = bob2.request("INVITE", timeout=15)
    uas = bob2.answer(inv, body=sdp(40426))
    assert provider.wait_final(d, timeout=15).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    calls = api.wait(lambda cs: len(cs) == 1 and cs[0]["state"] == "confirmed")
    assert view(calls) == [("appserver", "inbound", "user", bob2_id, "+34600111222", "confirmed")]
    assert api.get("client", api.client) == {"inbound": 1, "outbound": 0, "total": 1}
    callee_hangs_up(provider, d, bob2, uas)
    api.wait(lambda cs: cs == [])


def test_worker_clears_its_stale_rows_at_start(env: Env, api: Api) -> None:
    """Rows left by a worker that died (same address) are deleted when the next one starts. (The
    rows are the workers' runtime state: the test writes the ghost's as a worker writes them.)"""
    t = appserver_active_calls
    # a crashed worker on another address: its rows are shown until it restarts
    ghost = "127.0.0.1:9"
    with env.pf.engine.begin() as c:
        c.execute(t.insert().values(worker=ghost, session="1", callId="ghost", brandId=env.data.brand,
                                    companyId=env.pf.company_id(), direction="outbound", ownerType="user",
                                    ownerId=1, ownerName="Ghost", party="102", state="confirmed",
                                    startTime=datetime.now(UTC)))
    try:
        assert [c["callId"] for c in api.calls()] == ["ghost"]
        p = Publisher(env.pf.engine, ghost)
        p.start()  # what a worker on that address does before its first call
        p.close()
        assert api.calls() == []
    finally:
        with env.pf.engine.begin() as c:
            c.execute(delete(t).where(t.c.worker == ghost))


def test_blind_transfer_updates_the_party(env: Env, api: Api) -> None:
    """asbob (291) answers Alice and transfers her to 292 (Carol): Carol rings for Alice, then
    Alice's party becomes Carol and asbob's entry goes away."""
    alice_id, bob2_id, carol_id = user_id(env, "alice"), user_id(env, BOB2), user_id(env, CAROL)
    alice, bob2, carol = env.phone("alice"), env.phone(BOB2), env.phone(CAROL)
    d = alice.invite("291", body=sdp(40430), wait_final=False)
    inv = bob2.request("INVITE", timeout=10)
    uas = bob2.answer(inv, body=sdp(40432))
    assert alice.wait_final(d, timeout=15).status == 200
    bob2.request("ACK", call_id=inv.call_id, timeout=10)
    calls = api.wait(lambda cs: [c["state"] for c in cs] == ["confirmed", "confirmed"])
    assert view(calls) == [("appserver", "inbound", "user", bob2_id, "101", "confirmed"),
                           ("appserver", "outbound", "user", alice_id, "291", "confirmed")]
    refer(bob2, uas, f"sip:292@{DOMAIN}")
    assert bob2.response(uas.call_id, "REFER", final=True, timeout=10).status == 202
    n1 = bob2.request("NOTIFY", call_id=uas.call_id, timeout=10)
    bob2.respond(n1, 200, "OK")
    inv_c = carol.request("INVITE", timeout=10)
    carol.respond(inv_c, 180, "Ringing", to_tag="carolring")
    calls = api.wait(lambda cs: len(cs) == 3 and any(c["state"] == "early" for c in cs))
    assert view(calls) == [("appserver", "inbound", "user", bob2_id, "101", "confirmed"),
                           ("appserver", "inbound", "user", carol_id, "101", "early"),
                           ("appserver", "outbound", "user", alice_id, "291", "confirmed")]
    uas_c = carol.answer(inv_c, body=sdp(40434), ring=False)
    carol.request("ACK", call_id=inv_c.call_id, timeout=10)
    reinv = alice.request("INVITE", call_id=d.call_id, timeout=10)
    alice.respond(reinv, 200, "OK", body=sdp(40430), to_tag=d.local_tag)
    n2 = bob2.request("NOTIFY", call_id=uas.call_id, timeout=10)
    bob2.respond(n2, 200, "OK")
    bye = bob2.request("BYE", call_id=uas.call_id, timeout=10)
    bob2.respond(bye, 200, "OK")
    alice.request("ACK", call_id=d.call_id, timeout=10)
    calls = api.wait(lambda cs: len(cs) == 2)
    assert view(calls) == [("appserver", "inbound", "user", carol_id, "101", "confirmed"),
                           ("appserver", "outbound", "user", alice_id, "292", "confirmed")]
    d.remote_target = uri_of(reinv["contact"])
    bye_both_ways(alice, d, carol, inv_c, uas_c)
    api.wait(lambda cs: cs == [])
