"""A real outbound call through proxy-trunks (Kamailio + rtpengine, test UAs as application
server and carrier) billed by the worker from the call record proxy-trunks wrote (spec 8.13,
9.4.3, 9.6.2): exact price and cost, rating plan, destination, carrier, endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from polyvox.db.billing_state import billing_usage_days
from polyvox.db.model import ENTITY
from polyvox.workers.billing import bill_pending
from tests.billing.conftest import Smtp, body_of, smtp  # noqa: F401 (the loopback SMTP server fixture)
from tests.sip.conftest import Trunks
from tests.sip.test_trunks import SPAIN_OUT, Data, as_ua, call_out, cdrs, finish
from tests.sip.ua import UA, Dialog, Message, sdp


@pytest.fixture()
def bdata(trunks: Trunks, app_servers: Any) -> Iterator[Data]:
    """The ``data`` fixture of test_trunks.py: the session's client, cleaned up afterwards."""
    company = trunks.pf.company_id()
    d = Data(trunks, trunks.pf.prov.brand_of(company), company)
    d.app_servers = app_servers  # type: ignore[attr-defined]
    yield d
    d.cleanup()


def _plan(d: Data, prefix: str, per_minute: str, fee: str, increment: str, company: int | None = None,
          carrier: int | None = None) -> int:
    d.destination(prefix, f"Dest {per_minute}")  # (the brand's destination: named by its first plan)
    drg = d.rates([(prefix, per_minute)], fee=fee, increment=increment, name=f"Rates {per_minute}")
    rpg = d.plan_group(drg, name=f"Plan {per_minute}")
    d.profile(rpg, company=company, carrier=carrier)
    return rpg


def test_real_call_is_billed_with_the_exact_price(trunks: Trunks, bdata: Data) -> None:
    data = bdata
    engine = trunks.pf.engine
    bill_pending(engine, send_mail=False)  # records of earlier tests of the session: billed now, as they were
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua], SPAIN_OUT)
    ca = ENTITY["Carrier"].table
    data.update("Carrier", cid, calculateCost=True, balance=5)
    data.route("+34", cid)
    # client: fee 0.05 + 1.20/min in 60 s periods; carrier: 0.30/min in 60 s periods. A call of a
    # few seconds is one period whatever the scheduling jitter: price 1.25, cost 0.30.
    client_plan = _plan(data, "+3491", "1.20", "0.05", "60s", company=data.company)
    _plan(data, "+3491", "0.30", "0", "60s", carrier=cid)
    made: list[str] = []
    try:
        d = call_out(asrv, trunks, "+34911234567", data.company, data.brand)
        made.append(d.call_id)
        inv = carrier_ua.request("INVITE")
        carrier_ua.answer(inv, body=sdp(41002))
        assert asrv.wait_final(d).status == 200
        time.sleep(2.0)  # the call lasts about 2 s
        finish(trunks, asrv, d, carrier_ua, inv)
        (row,) = cdrs(trunks, d.call_id)
        assert row["disconnectCode"] == 200 and row["duration"] >= 1.9
        result = bill_pending(engine, send_mail=False)
        assert result.billed >= 1
        bc_t = ENTITY["BillableCall"].table
        with engine.connect() as c:
            bc = c.execute(select(bc_t).where(bc_t.c.callid == d.call_id)).first()
        assert bc is not None
        assert 2 <= bc.duration <= 30
        assert bc.price == Decimal("1.2500")
        assert bc.cost == Decimal("0.3000")
        assert (bc.ratingPlanGroupId, bc.ratingPlanName, bc.destinationName) == (client_plan, "Plan 1.20",
                                                                                "Dest 1.20")
        assert (bc.direction, bc.companyId, bc.carrierId) == ("outbound", data.company, cid)
        assert (bc.caller, bc.callee) == ("+34911000001", "+34911234567")
        with engine.connect() as c:
            assert c.execute(select(ca.c.balance).where(ca.c.id == cid)).scalar() == Decimal("4.7000")
    finally:  # the records stay claimed (billed), so no later pass bills them again
        bc_t, bm = ENTITY["BillableCall"].table, ENTITY["BalanceMovement"].table
        with engine.begin() as c:
            c.execute(delete(bm).where(bm.c.carrierId == cid))
            ids = [r.id for r in c.execute(select(bc_t.c.id).where(bc_t.c.callid.in_(made)))]
            c.execute(delete(bc_t).where(bc_t.c.id.in_(ids)))


def test_prepaid_running_call_is_debited_and_hung_up_at_zero_balance(trunks: Trunks, bdata: Data) -> None:
    """The worker debits the running call of a prepaid client (proxy-trunks' active calls), and
    when the balance reaches zero it ends the client's calls through proxy-trunks' RPC; at hang-up
    the movements of the call add up to its price."""
    from polyvox.workers.runner import Worker, WorkerOptions

    data = bdata
    engine = trunks.pf.engine
    bill_pending(engine, send_mail=False)  # records of earlier tests of the session: billed now, as they were
    co = ENTITY["Company"].table
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua], SPAIN_OUT)
    data.route("+34", cid)
    _plan(data, "+3491", "0.60", "0", "1s", company=data.company)  # 0.01 per second
    data.set_company(data.company, billingMethod="prepaid", balance=1)  # restored at cleanup
    worker = Worker(engine, f"fifo:{trunks.settings.rundir}/kamailio_rpc.fifo",
                    WorkerOptions(prepaid_every=0, usage_every=3600))
    made: list[str] = []
    try:
        d = call_out(asrv, trunks, "+34911234567", data.company, data.brand)
        made.append(d.call_id)
        inv = carrier_ua.request("INVITE")
        carrier_ua.answer(inv, body=sdp(41002))
        assert asrv.wait_final(d).status == 200
        time.sleep(1.5)
        worker.tick()
        with engine.connect() as c:
            after_first = c.execute(select(co.c.balance).where(co.c.id == data.company)).scalar_one()
        assert Decimal("0.50") <= after_first < Decimal("1")  # the started seconds, paid during the call
        # the client's other spending leaves 0.01: the next debit reaches zero, the call is cut
        data.update("Company", data.company, balance=0.01)
        time.sleep(1.0)
        result = worker.tick()
        assert data.company in result.cut and result.hung_up == 1
        for ua, call_id in ((asrv, d.call_id), (carrier_ua, inv.call_id)):
            bye = ua.request("BYE", call_id=call_id, timeout=10)
            ua.respond(bye, 200, "OK")
        (row,) = cdrs(trunks, d.call_id, timeout=10)
        worker.tick()
        bc_t, bm = ENTITY["BillableCall"].table, ENTITY["BalanceMovement"].table
        with engine.connect() as c:
            bc = c.execute(select(bc_t).where(bc_t.c.callid == d.call_id)).one()
            paid = sum(m.amount for m in c.execute(select(bm.c.amount).where(bm.c.companyId == data.company,
                                                                            bm.c.createdOn >= row["startTime"]
                                                                            .replace(tzinfo=None, microsecond=0))))
        assert bc.price == Decimal("0.01") * bc.duration
        assert paid == -bc.price  # interim debits + settlement = the price of the call
    finally:  # the records stay claimed (billed), so no later pass bills them again
        bc_t, bm = ENTITY["BillableCall"].table, ENTITY["BalanceMovement"].table
        with engine.begin() as c:
            c.execute(delete(bm).where(bm.c.companyId == data.company))
            ids = [r.id for r in c.execute(select(bc_t.c.id).where(bc_t.c.callid.in_(made)))]
            c.execute(delete(bc_t).where(bc_t.c.id.in_(ids)))


# ------------------------------------------------------------------------ max daily usage (12.6)
def _answered(asrv: UA, carrier_ua: UA, trunks: Trunks, data: Data, callee: str) -> tuple[Dialog, Message]:
    """An outbound call of the client answered by the carrier: (caller side, carrier's INVITE)."""
    d = call_out(asrv, trunks, callee, data.company, data.brand)
    inv = carrier_ua.request("INVITE", timeout=10)
    carrier_ua.answer(inv, body=sdp(41002))
    assert asrv.wait_final(d).status == 200
    return d, inv


def _refused(asrv: UA, carrier_ua: UA, trunks: Trunks, data: Data, callee: str) -> Message:
    d = call_out(asrv, trunks, callee, data.company, data.brand)
    final = asrv.wait_final(d)
    assert not [m for m in carrier_ua.drain(0.3) if m.is_request and m.method == "INVITE"]  # never reached it
    return final


def _company(engine: Any, company: int) -> Any:
    co = ENTITY["Company"].table
    with engine.connect() as c:
        return c.execute(select(co).where(co.c.id == company)).one()


def test_max_daily_usage_reached_hangs_up_every_call_of_a_postpaid_client(trunks: Trunks, bdata: Data,
                                                                         smtp: Smtp) -> None:  # noqa: F811
    """Spec 12.6: a postpaid client's usage is updated when a call is hung up; if the threshold is
    exceeded, all calls of that client are hung up (BYE to caller and carrier of each), new calls
    are refused (403) and the max daily usage e-mail is sent; raising the threshold (9.4.3 "Max
    daily usage") re-enables the client."""
    from polyvox.workers.runner import Worker, WorkerOptions

    data = bdata
    engine = trunks.pf.engine
    bill_pending(engine, send_mail=False)  # records of earlier tests of the session: billed now, as they were
    ud = billing_usage_days
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua], SPAIN_OUT)
    data.route("+34", cid)
    _plan(data, "+3491", "0.60", "0.50", "1s", company=data.company)  # 0.50 per call + 0.01 per second
    # 0.50 already spent today (earlier calls), limit 1: the next finished call reaches it
    data.set_company(data.company, billingMethod="postpaid", balance=0, currentDayUsage=0.5, maxDailyUsage=1,
                     maxDailyUsageEmail="fraud-desk@client.example")
    with engine.begin() as c:  # the worker's record of today's notification: none sent yet today
        c.execute(delete(ud).where(ud.c.companyId == data.company))
    worker = Worker(engine, f"fifo:{trunks.settings.rundir}/kamailio_rpc.fifo",
                    WorkerOptions(prepaid_every=0, usage_every=3600), smtp=smtp.settings)
    made: list[str] = []
    try:
        a, a_inv = _answered(asrv, carrier_ua, trunks, data, "+34911234501")
        b, b_inv = _answered(asrv, carrier_ua, trunks, data, "+34911234502")
        made += [a.call_id, b.call_id]
        time.sleep(1.5)
        # postpaid: running calls are not counted before they end (12.6), nothing is cut
        result = worker.tick()
        assert data.company not in result.cut and result.hung_up == 0
        assert _company(engine, data.company).currentDayUsage == Decimal("0.5000")
        assert not [m for ua in (asrv, carrier_ua) for m in ua.drain(0.3) if m.is_request and m.method == "BYE"]
        # a third call of the client ends: its price (0.50 + its seconds) takes today's usage over 1
        c3, c3_inv = _answered(asrv, carrier_ua, trunks, data, "+34911234503")
        made.append(c3.call_id)
        time.sleep(1.0)
        finish(trunks, asrv, c3, carrier_ua, c3_inv)
        assert cdrs(trunks, c3.call_id, timeout=10)
        result = worker.tick()
        assert data.company in result.cut and result.hung_up == 2
        assert _company(engine, data.company).currentDayUsage >= Decimal("1")
        # both running calls end: BYE to the caller (application server) and to the carrier of each
        for ua, call_id in ((asrv, a.call_id), (carrier_ua, a_inv.call_id), (asrv, b.call_id),
                            (carrier_ua, b_inv.call_id)):
            bye = ua.request("BYE", call_id=call_id, timeout=10)
            ua.respond(bye, 200, "OK")
        for call_id in (a.call_id, b.call_id):
            (row,) = cdrs(trunks, call_id, timeout=10)
            assert row["answerTime"] is not None and row["endTime"] is not None
        # the two cut calls are billed too (postpaid: usage grows, the balance does not move)
        worker.tick()
        bc_t = ENTITY["BillableCall"].table
        with engine.connect() as c:
            prices = {r.callid: r.price for r in c.execute(select(bc_t.c.callid, bc_t.c.price)
                                                           .where(bc_t.c.callid.in_(made)))}
        assert set(prices) == set(made) and all(p >= Decimal("0.5") for p in prices.values())
        now = _company(engine, data.company)
        assert now.currentDayUsage == Decimal("0.5") + sum(prices.values())
        assert now.balance == Decimal("0")
        # new calls are refused while today's usage is at or above the limit
        final = _refused(asrv, carrier_ua, trunks, data, "+34911234504")
        assert (final.status, final.reason) == (403, "Forbidden: max daily usage reached")
        # the notification e-mail, once
        deadline = time.monotonic() + 20  # (e-mails queued by earlier tests of the session may come too)
        while not (mails := [m for m in smtp.messages if m["To"] == "fraud-desk@client.example"]) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mails) == 1
        assert mails[0]["Subject"] == "Maximum daily usage reached by DemoCompany"
        assert "maximum daily usage of 1." in body_of(mails[0])
        worker.tick()
        assert len([m for m in smtp.messages if m["To"] == "fraud-desk@client.example"]) == 1
        # the operator raises the limit: the client calls again at once
        data.update("Company", data.company, maxDailyUsage=100)
        assert worker.tick().cut == set()
        e, e_inv = _answered(asrv, carrier_ua, trunks, data, "+34911234505")
        made.append(e.call_id)
        # maxDailyUsage 0 = no limit (docs/sip.md, as proxy-trunks admits the calls): nothing is cut
        data.update("Company", data.company, maxDailyUsage=0)
        result = worker.tick()
        assert data.company not in result.cut and result.hung_up == 0
        assert not [m for ua in (asrv, carrier_ua) for m in ua.drain(0.3) if m.is_request and m.method == "BYE"]
        finish(trunks, asrv, e, carrier_ua, e_inv)
    finally:  # the records stay claimed (billed), so no later pass bills them again
        bc_t = ENTITY["BillableCall"].table
        worker.tick()
        with engine.begin() as c:
            c.execute(delete(ud).where(ud.c.companyId == data.company))
            ids = [r.id for r in c.execute(select(bc_t.c.id).where(bc_t.c.callid.in_(made)))]
            c.execute(delete(bc_t).where(bc_t.c.id.in_(ids)))


# ------------------------------------------------------------------------ pseudo-prepaid (9.4.1)
def test_pseudo_prepaid_call_refused_at_zero_balance_passes_after_api_top_up(trunks: Trunks, bdata: Data) -> None:
    """Spec 9.4.1: a pseudo-prepaid client cannot place calls with zero balance; after a balance
    operation through the API (9.4.3 "Balance Operations") the next call is established, and the
    balance is decremented by its price after the call ends."""
    from polyvox.workers.runner import Worker, WorkerOptions

    data = bdata
    engine = trunks.pf.engine
    bill_pending(engine, send_mail=False)  # records of earlier tests of the session: billed now, as they were
    bm = ENTITY["BalanceMovement"].table
    asrv = as_ua(data)
    carrier_ua = trunks.ua("carrier")
    cid, _ = data.carrier([carrier_ua], SPAIN_OUT)
    data.route("+34", cid)
    _plan(data, "+3491", "0.60", "0.05", "60s", company=data.company)  # 0.65 for a call under a minute
    data.set_company(data.company, billingMethod="pseudoprepaid", balance=0)  # restored at cleanup
    worker = Worker(engine, f"fifo:{trunks.settings.rundir}/kamailio_rpc.fifo",
                    WorkerOptions(prepaid_every=0, usage_every=3600))
    made: list[str] = []
    try:
        final = _refused(asrv, carrier_ua, trunks, data, "+34911234567")
        assert (final.status, final.reason) == (403, "Forbidden: no balance left")
        r = data.prov.brand(data.brand).request("POST", f"companies/{data.company}/modify_balance",
                                                data={"operation": "increment", "amount": "5"})
        assert r.status_code == 200, r.text
        assert r.json()["balance"] == 5
        d, inv = _answered(asrv, carrier_ua, trunks, data, "+34911234567")
        made.append(d.call_id)
        time.sleep(1.0)
        finish(trunks, asrv, d, carrier_ua, inv)
        assert cdrs(trunks, d.call_id, timeout=10)
        worker.tick()
        bc_t = ENTITY["BillableCall"].table
        with engine.connect() as c:
            bc = c.execute(select(bc_t).where(bc_t.c.callid == d.call_id)).one()
            amounts = [m.amount for m in c.execute(select(bm.c.amount).where(bm.c.companyId == data.company)
                                                   .order_by(bm.c.id))]
        assert bc.price == Decimal("0.6500")
        assert _company(engine, data.company).balance == Decimal("4.3500")
        assert amounts[-2:] == [Decimal("5"), Decimal("-0.65")]  # the top-up, then the call
    finally:  # the records stay claimed (billed), so no later pass bills them again
        bc_t = ENTITY["BillableCall"].table
        with engine.begin() as c:
            c.execute(delete(bm).where(bm.c.companyId == data.company))
            ids = [r.id for r in c.execute(select(bc_t.c.id).where(bc_t.c.callid.in_(made)))]
            c.execute(delete(bc_t).where(bc_t.c.id.in_(ids)))
