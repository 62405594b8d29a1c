"""The quick start of spec 5–7 end to end, with real SIP traffic through every component:
phones (test UAs) registered in proxy-users (Kamailio), a real ``polyvox appserver`` worker with
the real dialplan, proxy-trunks (Kamailio) whose trusted proxy-users is the real one, rtpengine,
a DDI provider and a carrier (test UAs), and the billing worker.

1. Spec 5: Alice (alice/alice, extension 101) calls 102 and Bob answers; the call registry has
   one row for each of them (spec 10.1.14).
2. Spec 6: a call from a DDI provider to DemoCompany's DDI reaches Alice.
3. Spec 7: Alice calls a Spanish number through a carrier; with a rating plan assigned to
   DemoCompany the call is connected, proxy-trunks writes its call record and the billing worker
   turns it into a billable call with its price; without rating plan the call is refused (403).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from polyvox.db.model import ENTITY
from polyvox.sip import render
from tests.sip.conftest import Platform, Proc, Trunks, _wait_ready, free_port
from tests.sip.fixtures_appserver import REAL_DIALPLAN, AppServers
from tests.sip.test_trunks import SPAIN_IN, SPAIN_OUT, Data, cdrs
from tests.sip.ua import UA, Dialog, Message, sdp, sdp_media


@pytest.fixture(scope="module")
def qs_trunks(platform: Platform) -> Iterator[Trunks]:
    """proxy-trunks whose trusted proxy-users (``users_proxy``) is the session's real proxy-users
    (the session's ``trunks_platform`` trusts a test UA instead). Its own POLYVOX_HOME keeps its
    run directory apart from the session's proxy-trunks."""
    port = free_port()
    settings = platform.settings.with_(home=platform.tmp / "home-quickstart", name="proxy-trunks", port=port,
                                       users_proxy=f"{platform.proxy[0]}:{platform.proxy[1]}",
                                       carrier_timeout_ms=1000)
    rendered = render.render(settings)
    kam = Proc(rendered.argv, platform.tmp / "kamailio-trunks-quickstart.log", "proxy-trunks-quickstart")
    users = UA("unused", "localhost", platform.proxy)  # (Trunks.users: not used here)
    try:
        _wait_ready(("127.0.0.1", port), kam)
        yield Trunks(pf=platform, settings=settings, proxy=("127.0.0.1", port), kamailio=kam, users=users)
    finally:
        kam.stop()
        users.close()


@pytest.fixture(scope="module")
def qs_servers(platform: Platform, qs_trunks: Trunks) -> Iterator[AppServers]:
    """One app server worker with the real dialplan, talking to the quick start's proxy-trunks."""
    a = AppServers(platform, qs_trunks)
    try:
        a.start(1, dialplan=REAL_DIALPLAN)
        yield a
    finally:
        a.stop()


@dataclass
class QS:
    pf: Platform
    trunks: Trunks
    servers: AppServers
    data: Data

    def phone(self, name: str) -> UA:
        ua = self.pf.ua(name, name)
        assert ua.register().status == 200
        from polyvox.db.location import location

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the real dialplan reads kam_users_location
            with self.pf.engine.connect() as c:
                rows = c.execute(select(location.c.contact).where(location.c.username == name)).all()
            if any(f":{ua.port}" in str(r[0]) for r in rows):
                break
            time.sleep(0.05)
        return ua

    def user_id(self, terminal: str) -> int:
        u, t = ENTITY["User"].table, ENTITY["Terminal"].table
        with self.pf.engine.connect() as c:
            return int(c.execute(select(u.c.id).select_from(u.join(t, t.c.id == u.c.terminalId))
                                 .where(t.c.name == terminal)).scalar_one())

    def registry(self, call_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The users_cdrs rows of a call (written by the app server when it ends)."""
        t = ENTITY["UsersCdr"].table
        deadline = time.monotonic() + timeout
        while True:
            with self.pf.engine.connect() as c:
                rows = [dict(r._mapping) for r in c.execute(select(t).where(t.c.callid == call_id).order_by(t.c.id))]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@pytest.fixture()
def qs(pv: Platform, qs_trunks: Trunks, qs_servers: AppServers, app_servers: Any) -> Iterator[QS]:
    assert qs_trunks.kamailio.alive(), qs_trunks.kamailio.tail()
    app_servers([f"127.0.0.1:{p}" for p, _ in qs_servers.workers])
    company = pv.company_id()
    c = ENTITY["Company"].table
    with pv.engine.connect() as conn:
        brand = int(conn.execute(select(c.c.brandId).where(c.c.id == company)).scalar_one())
    data = Data(qs_trunks, brand, company)
    try:
        yield QS(pv, qs_trunks, qs_servers, data)
    finally:
        data.cleanup()
        for ua in pv.uas:
            try:
                if ua.password:
                    ua.register(expires=0)
            except (TimeoutError, OSError):
                pass
        for ua in qs_trunks.uas:
            ua.close()
        qs_trunks.uas.clear()


def _final(ua: UA, d: Dialog) -> Message:
    return ua.wait_final(d, timeout=15)


def _hang_up(caller: UA, d: Dialog, callee: UA, inv: Message) -> None:
    caller.in_dialog(d, "BYE")
    bye = callee.request("BYE", call_id=inv.call_id, timeout=10)
    callee.respond(bye, 200, "OK")
    assert caller.response(d.call_id, "BYE", final=True, timeout=10).status == 200


def test_spec_5_alice_calls_102_and_bob_answers(qs: QS) -> None:
    alice, bob = qs.phone("alice"), qs.phone("bob")
    d = alice.invite("102", body=sdp(42000), wait_final=False)
    inv = bob.request("INVITE", timeout=15)
    assert "sip:101@" in inv["from"]  # Alice presented by her extension
    bob.answer(inv, body=sdp(42002))
    final = _final(alice, d)
    assert final.status == 200
    assert sdp_media(final.body)[1] not in (42000, 0)  # media anchored in rtpengine
    bob.request("ACK", call_id=inv.call_id, timeout=10)
    time.sleep(1.0)
    _hang_up(alice, d, bob, inv)
    rows = qs.registry(d.call_id, 2)
    assert [(r["direction"], r["userId"], r["caller"], r["callee"], r["disposition"]) for r in rows] == [
        ("outbound", qs.user_id("alice"), "101", "102", "answered"),
        ("inbound", qs.user_id("bob"), "101", "102", "answered")]
    assert all(r["duration"] >= Decimal("0.9") for r in rows)


def test_spec_6_ddi_provider_call_reaches_alice(qs: QS) -> None:
    data = qs.data
    prov = data.provider(SPAIN_IN)
    ddi = data.ddi("+34955000444", provider=prov)
    d_t = ENTITY["Ddi"].table
    with qs.pf.engine.begin() as c:
        c.execute(d_t.update().where(d_t.c.id == ddi).values(routeType="user", userId=qs.user_id("alice")))
    qs.pf.bump()
    alice = qs.phone("alice")
    provider = qs.trunks.ua("666777888", domain="provider.example")
    d = provider.invite(f"sip:955000444@{qs.trunks.proxy[0]}:{qs.trunks.proxy[1]}", body=sdp(42010), auth=False,
                        wait_final=False)
    inv = alice.request("INVITE", timeout=15)
    assert "+34666777888" in inv["from"] or "666777888" in inv["from"]
    alice.answer(inv, body=sdp(42012))
    assert _final(provider, d).status == 200
    alice.request("ACK", call_id=inv.call_id, timeout=10)
    _hang_up(provider, d, alice, inv)
    rows = qs.registry(d.call_id, 1)
    assert [(r["direction"], r["userId"], r["caller"], r["callee"]) for r in rows] == [
        ("inbound", qs.user_id("alice"), "+34666777888", "+34955000444")]


def _rating_plan(data: Data, prefix: str) -> int:
    """DemoCompany's rating profile: 0.05 connection + 1.20/min in 60 s periods for ``prefix``
    (a call of a few seconds costs 1.25 whatever the scheduling jitter). Returns its id."""
    rpg = data.add("RatingPlanGroup", brandId=data.brand, nameEn="Quick start plan")
    drg = data.add("DestinationRateGroup", brandId=data.brand, nameEn="Quick start rates")
    dest = data.add("Destination", brandId=data.brand, prefix=prefix, nameEn="Spain Madrid")
    data.add("DestinationRate", destinationRateGroupId=drg, destinationId=dest, cost=Decimal("1.20"),
             connectFee=Decimal("0.05"), rateIncrement="60s", groupIntervalStart="0s")
    data.add("RatingPlan", ratingPlanGroupId=rpg, destinationRateGroupId=drg, weight=10, timingType="always")
    return data.add("RatingProfile", brandId=data.brand, companyId=data.company, ratingPlanGroupId=rpg,
                    activationTime=datetime.now(UTC) - timedelta(days=1))


def test_spec_7_external_call_is_billed_and_refused_without_rating_plan(qs: QS) -> None:
    from polyvox.workers.billing import bill_pending
    from polyvox.workers.runner import Worker

    pf, data, engine = qs.pf, qs.data, qs.pf.engine
    bill_pending(engine, send_mail=False)  # call records of earlier tests: billed now, as they were
    co, bc_t = ENTITY["Company"].table, ENTITY["BillableCall"].table
    with engine.connect() as c:
        saved_ddi = c.execute(select(co.c.outgoingDdiId).where(co.c.id == data.company)).scalar()
    ddi = data.ddi("+34955000555")
    carrier = qs.trunks.ua("carrier")
    cid, _ = data.carrier([carrier], SPAIN_OUT)
    data.route("+34", cid)
    profile = _rating_plan(data, "+3491")
    made: list[str] = []
    try:
        with engine.begin() as c:
            c.execute(co.update().where(co.c.id == data.company).values(outgoingDdiId=ddi))
        pf.bump()
        alice = qs.phone("alice")
        d = alice.invite("911234567", body=sdp(42020), wait_final=False)
        inv = carrier.request("INVITE", timeout=15)
        made.append(inv.call_id)
        assert inv.uri.startswith("sip:911234567@")  # the carrier's transformation (national format)
        assert "955000555" in inv["from"]  # the client's outgoing DDI
        carrier.answer(inv, body=sdp(42022))
        assert _final(alice, d).status == 200
        carrier.request("ACK", call_id=inv.call_id, timeout=10)
        time.sleep(2.0)
        _hang_up(alice, d, carrier, inv)
        (record,) = cdrs(qs.trunks, inv.call_id, timeout=10)
        assert record["companyId"] == data.company and record["carrierId"] == cid
        Worker(engine).tick()
        with engine.connect() as c:
            bc = c.execute(select(bc_t).where(bc_t.c.callid == inv.call_id)).first()
        assert bc is not None, "the billing worker made no billable call"
        assert bc.price == Decimal("1.2500")
        assert (bc.direction, bc.companyId, bc.carrierId, bc.callee) == ("outbound", data.company, cid,
                                                                         "+34911234567")
        assert bc.caller == "+34955000555"
        # Alice's call is in the call registry too
        assert [r["direction"] for r in qs.registry(d.call_id, 1)] == ["outbound"]

        # the rating plan is removed from the client: no rating plan, no call (spec 7.5)
        rp = ENTITY["RatingProfile"].table
        with engine.begin() as c:
            c.execute(delete(rp).where(rp.c.id == profile))
        pf.bump()
        d = alice.invite("911234567", body=sdp(42030), wait_final=False)
        final = _final(alice, d)
        assert final.status == 403 and "rating plan" in final.reason.lower(), (final.status, final.reason)
        rows = qs.registry(d.call_id, 1)
        assert [(r["direction"], r["disposition"]) for r in rows] == [("outbound", "error")]
    finally:
        with engine.begin() as c:
            c.execute(co.update().where(co.c.id == data.company).values(outgoingDdiId=saved_ddi))
            c.execute(delete(bc_t).where(bc_t.c.callid.in_(made)))
        pf.bump()
