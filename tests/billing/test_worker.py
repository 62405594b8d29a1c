"""The billing worker over a real database: call records -> billable calls with exact prices and
costs (spec 8.13, 9.4.3 "How it works", "Deductible Connection Fee", 9.6.2), balances (9.4.1),
current day usage and its reset (9.4.3, 12.6), e-mail notifications through a real SMTP server
(9.4.3 "Balance Notifications", 9.7.4), several workers, restarts."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from polyvox.db.billing_state import billing_cdr_claims
from polyvox.db.model import ENTITY
from polyvox.workers import billing
from polyvox.workers.billing import RunningCall, bill_pending, debit_running_calls
from tests.billing.conftest import (
    Setup,
    Smtp,
    billable,
    body_of,
    cdr,
    company,
    create,
    movements,
    names,
    plan,
    profile,
    put,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Madrid
D = Decimal


def _bill(s: Setup, now: dt.datetime = T0, **kw: object) -> billing.PassResult:
    kw.setdefault("send_mail", False)
    return bill_pending(s.db, now + dt.timedelta(minutes=5), **kw)  # type: ignore[arg-type]


def _bc_count(db: Engine) -> int:
    t = ENTITY["BillableCall"].table
    with db.connect() as c:
        return int(c.execute(select(func.count()).select_from(t)).scalar_one())


def test_outbound_call_priced_per_charge_period_and_costed_by_the_carrier(setup: Setup) -> None:
    s = setup
    cdr(s.db, callid="out-1", company=s.company, brand=s.brand, callee="+34944048184", duration=90.2, start=T0,
        carrier=s.carrier, endpoint=("terminal", s.alice_terminal, f"b{s.brand}c{s.company}t1_alice"))
    result = _bill(s)
    assert (result.billed, result.skipped) == (1, 0)
    bc = billable(s.db, "out-1")
    # 91 s (ceil) at 0.02/min in 60 s periods: 0.01 + 2 x 0.02
    assert bc.price == D("0.0500")
    # carrier: 0.01/min per second, no fee: 91/60 x 0.01 = 0.01517 -> 0.0152
    assert bc.cost == D("0.0152")
    assert bc.duration == 91
    assert (bc.direction, bc.caller, bc.callee) == ("outbound", "+34911000001", "+34944048184")
    assert (bc.ratingPlanGroupId, bc.ratingPlanName) == (s.client_plan, "Retail plan")
    assert (bc.destinationId, bc.destinationName) == (s.destinations["+34"], "Spain")
    assert (bc.carrierId, bc.carrierName) == (s.carrier, "Carrier1")
    assert (bc.endpointType, bc.endpointId, bc.endpointName) == ("User", s.alice, "101")
    assert (bc.brandId, bc.companyId, bc.invoiceId) == (s.brand, s.company, None)
    assert bc.startTime.replace(tzinfo=None) == T0.replace(tzinfo=None)
    assert bc.priceDetails["periods"] == 2 and bc.priceDetails["prefix"] == "+34"
    # postpaid: no balance change, today's usage grows by the price
    co = company(s.db, s.company)
    assert co.balance == 0 and co.currentDayUsage == D("0.0500")
    assert movements(s.db, companyId=s.company) == []
    # the carrier's balance pays the cost, with a movement
    carrier = ENTITY["Carrier"].table
    with s.db.connect() as c:
        assert c.execute(select(carrier.c.balance).where(carrier.c.id == s.carrier)).scalar() == D("9.9848")
    (mv,) = movements(s.db, carrierId=s.carrier)
    assert (mv.amount, mv.balance) == (D("-0.0152"), D("9.9848"))
    # a second pass bills nothing again
    assert _bill(s).billed == 0
    assert _bc_count(s.db) == 1


def test_interval_start_charges_the_connection_fee_then_periods(setup: Setup) -> None:
    s = setup
    for callid, seconds in (("m-45", 45), ("m-60", 60), ("m-61", 61), ("m-100", 100)):
        cdr(s.db, callid=callid, company=s.company, brand=s.brand, callee="+34600111222", duration=seconds,
            start=T0, carrier=s.carrier)
    assert _bill(s).billed == 4
    # +346: fee 0.05, 60 s free, then 0.10/min in 30 s periods (0.05 each)
    assert billable(s.db, "m-45").price == D("0.0500")
    assert billable(s.db, "m-60").price == D("0.0500")
    assert billable(s.db, "m-61").price == D("0.1000")
    assert billable(s.db, "m-100").price == D("0.1500")
    assert billable(s.db, "m-100").destinationName == "Spain mobile"
    assert company(s.db, s.company).currentDayUsage == D("0.3500")


def test_deductible_connection_fee_worked_examples_on_a_prepaid_balance(setup: Setup) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="prepaid", balance=D("1.0000"))
    # France: fee 0.01 + 120 s x 0.10/min = 0.21 total -> price 0.20 (0.01 refunded)
    cdr(s.db, callid="fr", company=s.company, brand=s.brand, callee="+33123456789", duration=120, start=T0,
        carrier=s.carrier)
    # UK: fee 0.01 + 3 s x 0.06/min = 0.013 total -> price 0.01 (0.003 refunded)
    cdr(s.db, callid="uk", company=s.company, brand=s.brand, callee="+447700900123", duration=3, start=T0,
        carrier=s.carrier)
    _bill(s)
    fr, uk = billable(s.db, "fr"), billable(s.db, "uk")
    assert (fr.price, fr.priceDetails["total"], fr.priceDetails["refund"]) == (D("0.2000"), "0.2100", "0.0100")
    assert (uk.price, uk.priceDetails["total"], uk.priceDetails["refund"]) == (D("0.0100"), "0.0130", "0.0030")
    assert fr.cost == D("0.0600") and uk.cost == D("0.0015")  # carrier 0.03/min, not deductible
    co = company(s.db, s.company)
    assert co.balance == D("0.7900") and co.currentDayUsage == D("0.2100")
    assert [(m.amount, m.balance) for m in movements(s.db, companyId=s.company)] == [
        (D("-0.2000"), D("0.8000")), (D("-0.0100"), D("0.7900"))]


def test_prepaid_interim_debits_then_refund_at_hang_up(setup: Setup) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="prepaid", balance=D("1.0000"))
    answer = T0 + dt.timedelta(seconds=2)
    call = RunningCall("running-fr", s.company, "+33123456789", T0, answer)
    # 60 s into the call: fee + 60 s = 0.01 + 0.10 = 0.11 debited during the call
    assert debit_running_calls(s.db, [call], answer + dt.timedelta(seconds=60)) == set()
    assert company(s.db, s.company).balance == D("0.8900")
    # 120 s: 0.21 in total, so 0.10 more
    debit_running_calls(s.db, [call], answer + dt.timedelta(seconds=120))
    assert company(s.db, s.company).balance == D("0.7900")
    # hang-up at 120 s: price 0.20, the deductible fee 0.01 goes back
    cdr(s.db, callid="running-fr", company=s.company, brand=s.brand, callee="+33123456789", duration=120, start=T0,
        carrier=s.carrier)
    _bill(s)
    assert billable(s.db, "running-fr").price == D("0.2000")
    co = company(s.db, s.company)
    assert co.balance == D("0.8000") and co.currentDayUsage == D("0.2000")
    assert [m.amount for m in movements(s.db, companyId=s.company)] == [D("-0.1100"), D("-0.1000"), D("0.0100")]


def test_prepaid_balance_exhausted_during_a_call_cuts_the_client(setup: Setup) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="prepaid", balance=D("0.0500"))
    answer = T0 + dt.timedelta(seconds=2)
    call = RunningCall("long", s.company, "+33123456789", T0, answer)
    # 10 s: 0.01 + 10 x 0.10/60 = 0.0267 debited, balance still positive
    assert debit_running_calls(s.db, [call], answer + dt.timedelta(seconds=10)) == set()
    assert company(s.db, s.company).balance == D("0.0233")
    # 30 s: 0.06 in total > 0.05: the balance reaches zero, every call of the client is hung up
    assert debit_running_calls(s.db, [call], answer + dt.timedelta(seconds=30)) == {s.company}
    assert company(s.db, s.company).balance == D("-0.0100")
    assert billing.clients_to_cut(s.db) == {s.company}


def test_inbound_listed_without_price_unanswered_not_listed_bounced_cost_zero(setup: Setup) -> None:
    s = setup
    provider = create(s, "DdiProvider", name="Provider1", description="",
                      transformationRuleSet=company(s.db, s.company).transformationRuleSetId)
    ddi = create(s, "Ddi", company=s.company, ddi="944000111", ddiProvider=provider, type="inout",
                 useDdiProviderRoutingTag=False)
    cdr(s.db, callid="in-1", company=s.company, brand=s.brand, callee="+34944000111", caller="+34600000001",
        duration=30, start=T0, direction="inbound", ddi=ddi, provider=provider)
    cdr(s.db, callid="cancelled", company=s.company, brand=s.brand, callee="+34944048184", duration=0,
        start=T0, carrier=s.carrier, answered=False, code=487)
    cdr(s.db, callid="busy", company=s.company, brand=s.brand, callee="+34944048184", duration=0,
        start=T0, carrier=s.carrier, answered=False, code=486)
    # a client calling its own DDI: proxy-trunks bounces it internally and writes two records with
    # the same Call-ID (docs/sip.md §9.5): the caller's outbound one (no carrier) and the DDI's
    # inbound one (no provider), both flagged bounced
    cdr(s.db, callid="bounced", company=s.company, brand=s.brand, callee="+34944000111", duration=30, start=T0,
        bounced=True)
    cdr(s.db, callid="bounced", company=s.company, brand=s.brand, callee="+34944000111", duration=30, start=T0,
        direction="inbound", ddi=ddi, bounced=True)
    result = _bill(s)
    assert (result.billed, result.skipped) == (3, 2)
    inbound = billable(s.db, "in-1")
    assert (inbound.direction, inbound.price, inbound.cost, inbound.ratingPlanName) == ("inbound", None, None, None)
    assert (inbound.ddiId, inbound.ddiProviderId, inbound.duration) == (ddi, provider, 30)
    t = ENTITY["BillableCall"].table
    with s.db.connect() as c:
        rows = {r.direction: r for r in c.execute(select(t).where(t.c.callid == "bounced"))}
    assert set(rows) == {"outbound", "inbound"}
    bounced = rows["outbound"]
    assert (bounced.cost, bounced.carrierId) == (D("0"), None)
    assert bounced.price == D("0.0300")  # priced for the client: 0.01 + one 60 s period of 0.02
    assert (rows["inbound"].price, rows["inbound"].cost, rows["inbound"].ddiId) == (None, None, ddi)
    t = ENTITY["BillableCall"].table
    with s.db.connect() as c:
        assert c.execute(select(t.c.id).where(t.c.callid.in_(["cancelled", "busy"]))).first() is None
        outcomes = dict(c.execute(select(billing_cdr_claims.c.outcome, func.count())
                                  .group_by(billing_cdr_claims.c.outcome)).all())
    assert outcomes == {"billed": 3, "skipped_unanswered": 2}


def test_pseudoprepaid_low_balance_email_once_per_crossing(setup: Setup, smtp: Smtp) -> None:
    s = setup
    es = ENTITY["Language"].table
    with s.db.connect() as c:
        es_id = c.execute(select(es.c.id).where(es.c.iden == "es")).scalar_one()
    put(s, "Company", s.company, billingMethod="pseudoprepaid", balance=D("0.3000"), language=es_id)
    template = create(s, "NotificationTemplate", name="Saldo", type="lowbalance")
    create(s, "NotificationTemplateContent", notificationTemplate=template, language=es_id, fromName="Facturación",
           fromAddress="billing@brand.example", subject="Saldo de ${BALANCE_NAME}: ${BALANCE_AMOUNT}",
           body="Quedan ${BALANCE_AMOUNT} euros en ${BALANCE_NAME}.", bodyType="text/plain")
    create(s, "BalanceNotification", company=s.company, toAddress="ops@client.example",
           threshold=D("0.2000"), notificationTemplate=template)
    # 0.30 -> 0.25: above the threshold, nothing sent
    cdr(s.db, callid="a", company=s.company, brand=s.brand, callee="+34944048184", duration=100, start=T0,
        carrier=s.carrier)  # 0.01 + 2 x 0.02 = 0.05
    assert bill_pending(s.db, T0, smtp=smtp.settings).mails == 0
    # 0.25 -> 0.15: crosses 0.20, one e-mail in Spanish with the variables replaced
    cdr(s.db, callid="b", company=s.company, brand=s.brand, callee="+34600111222", duration=100, start=T0,
        carrier=s.carrier)  # +346, 100 s: 0.05 + 2 periods of 0.05 = 0.15
    r = bill_pending(s.db, T0, smtp=smtp.settings)
    assert company(s.db, s.company).balance == D("0.1000")
    assert r.mails == 1
    (msg,) = smtp.wait(1)
    assert msg["To"] == "ops@client.example" and "billing@brand.example" in msg["From"]
    assert msg["Subject"] == "Saldo de DemoCompany: 0.1000"
    assert body_of(msg).strip() == "Quedan 0.1000 euros en DemoCompany."
    bn = ENTITY["BalanceNotification"].table
    with s.db.connect() as c:
        assert c.execute(select(bn.c.lastSent)).scalar() is not None
    # still under the threshold: no second e-mail
    cdr(s.db, callid="c", company=s.company, brand=s.brand, callee="+34944048184", duration=10, start=T0,
        carrier=s.carrier)
    assert bill_pending(s.db, T0, smtp=smtp.settings).mails == 0
    assert company(s.db, s.company).balance == D("0.0700")
    # topped up above the threshold, then under it again: a new e-mail
    put(s, "Company", s.company, balance=D("0.2200"))
    cdr(s.db, callid="d", company=s.company, brand=s.brand, callee="+34944048184", duration=10, start=T0,
        carrier=s.carrier)
    assert bill_pending(s.db, T0, smtp=smtp.settings).mails == 1
    assert len(smtp.wait(2)) == 2


def test_carrier_low_balance_uses_default_template_and_carrier_never_disabled(setup: Setup, smtp: Smtp) -> None:
    s = setup
    put(s, "Carrier", s.carrier, balance=D("0.0100"))
    create(s, "BalanceNotification", carrier=s.carrier, toAddress="noc@brand.example", threshold=D("0"))
    cdr(s.db, callid="c1", company=s.company, brand=s.brand, callee="+33123456789", duration=60, start=T0,
        carrier=s.carrier)  # cost 0.03
    r = bill_pending(s.db, T0, smtp=smtp.settings)
    assert r.mails == 1 and r.cut == set()
    (msg,) = smtp.wait(1)
    assert msg["Subject"] == "Low balance alert for Carrier1"  # default English contents
    assert "Current balance: -0.0200" in body_of(msg)
    # the carrier keeps being used and costed
    cdr(s.db, callid="c2", company=s.company, brand=s.brand, callee="+33123456789", duration=60, start=T0,
        carrier=s.carrier)
    bill_pending(s.db, T0, send_mail=False)
    assert billable(s.db, "c2").cost == D("0.0300")


def test_max_daily_usage_email_cut_and_reset_at_local_midnight(setup: Setup, smtp: Smtp) -> None:
    s = setup
    put(s, "Company", s.company, maxDailyUsage=1, maxDailyUsageEmail="boss@client.example")
    madrid = ZoneInfo("Europe/Madrid")
    late = dt.datetime(2026, 3, 10, 23, 50, tzinfo=madrid)  # 22:50 UTC
    hung: list[int] = []
    # France 0.10/min: 10 min = 0.01 + 1.00 (deductible: 1.00) -> reaches 1
    cdr(s.db, callid="big", company=s.company, brand=s.brand, callee="+33123456789", duration=600,
        start=late - dt.timedelta(minutes=11), carrier=s.carrier)
    r = bill_pending(s.db, late, smtp=smtp.settings, hangup=lambda cid: hung.append(cid) or 3)
    assert company(s.db, s.company).currentDayUsage == D("1.0000")
    assert r.cut == {s.company} and hung == [s.company] and r.hung_up == 3
    assert billing.clients_to_cut(s.db) == {s.company}
    (msg,) = smtp.wait(1)
    assert msg["To"] == "boss@client.example"
    assert msg["Subject"] == "Maximum daily usage reached by DemoCompany"
    assert "maximum daily usage of 1." in body_of(msg)
    # another call the same day: still over, no second e-mail
    cdr(s.db, callid="small", company=s.company, brand=s.brand, callee="+34944048184", duration=10,
        start=late - dt.timedelta(minutes=1), carrier=s.carrier)
    assert bill_pending(s.db, late + dt.timedelta(minutes=1), smtp=smtp.settings).mails == 0
    assert company(s.db, s.company).currentDayUsage == D("1.0300")
    # 23:59 Madrid: not yet midnight
    assert billing.reset_daily_usage(s.db, dt.datetime(2026, 3, 10, 23, 59, tzinfo=madrid)) == 0
    assert company(s.db, s.company).currentDayUsage == D("1.0300")
    # 00:01 Madrid (23:01 UTC, still the 10th in UTC): reset, client re-enabled
    assert billing.reset_daily_usage(s.db, dt.datetime(2026, 3, 11, 0, 1, tzinfo=madrid)) == 1
    assert company(s.db, s.company).currentDayUsage == D("0")
    assert billing.clients_to_cut(s.db) == set()
    # a call of the new day counts, and the e-mail can be sent again when reached again
    cdr(s.db, callid="new-day", company=s.company, brand=s.brand, callee="+33123456789", duration=600,
        start=dt.datetime(2026, 3, 11, 0, 2, tzinfo=madrid), carrier=s.carrier)
    r = bill_pending(s.db, dt.datetime(2026, 3, 11, 0, 15, tzinfo=madrid), smtp=smtp.settings)
    assert company(s.db, s.company).currentDayUsage == D("1.0000") and r.mails == 1


def test_rating_uses_the_profile_active_at_the_call_start(setup: Setup) -> None:
    s = setup
    cheap = plan(s, "Cheap plan", [])
    drg = create(s, "DestinationRateGroup", name=names("Cheap"), currency=s.eur,
                 deductibleConnectionFee=False)
    create(s, "DestinationRate", destinationRateGroup=drg, destination=s.destinations["+34"], cost=D("0.01"),
           connectFee=D("0"), rateIncrement="1s", groupIntervalStart="0s")
    create(s, "RatingPlan", ratingPlanGroup=cheap, destinationRateGroup=drg, weight=D("10"), timingType="always",
           timeIn="00:00:00")
    profile(s, cheap, since=dt.datetime(2026, 3, 10, 12, 0))  # activates at 12:00 UTC
    cdr(s.db, callid="before", company=s.company, brand=s.brand, callee="+34944048184", duration=60, start=T0)
    cdr(s.db, callid="after", company=s.company, brand=s.brand, callee="+34944048184", duration=60,
        start=dt.datetime(2026, 3, 10, 12, 0, 1, tzinfo=UTC))
    _bill(s, dt.datetime(2026, 3, 10, 12, 5, tzinfo=UTC))
    assert (billable(s.db, "before").price, billable(s.db, "before").ratingPlanName) == (D("0.0300"), "Retail plan")
    assert (billable(s.db, "after").price, billable(s.db, "after").ratingPlanName) == (D("0.0100"), "Cheap plan")


def test_routing_tag_profile_prices_running_calls(setup: Setup) -> None:
    s = setup
    tag = create(s, "RoutingTag", name="premium", tag="77#")
    tagged = plan(s, "Tagged plan", [])
    drg = create(s, "DestinationRateGroup", name=names("Premium"), currency=s.eur,
                 deductibleConnectionFee=False)
    create(s, "DestinationRate", destinationRateGroup=drg, destination=s.destinations["+33"], cost=D("0.60"),
           connectFee=D("0"), rateIncrement="1s", groupIntervalStart="0s")
    create(s, "RatingPlan", ratingPlanGroup=tagged, destinationRateGroup=drg, weight=D("10"), timingType="always",
           timeIn="00:00:00")
    profile(s, tagged, tag=tag)
    put(s, "Company", s.company, billingMethod="prepaid", balance=D("5"))
    answer = T0 + dt.timedelta(seconds=2)
    debit_running_calls(s.db, [RunningCall("t1", s.company, "+33123456789", T0, answer, routing_tag_id=tag)],
                        answer + dt.timedelta(seconds=60))
    assert company(s.db, s.company).balance == D("4.4000")  # 0.60/min, not the untagged 0.10/min + fee


def test_client_without_billing_method_is_listed_without_price(setup: Setup) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="none", currentDayUsage=0)
    cdr(s.db, callid="free", company=s.company, brand=s.brand, callee="+34944048184", duration=60, start=T0,
        carrier=s.carrier)
    _bill(s)
    bc = billable(s.db, "free")
    assert bc.price is None and bc.cost == D("0.0100")  # the brand still pays the carrier
    assert company(s.db, s.company).currentDayUsage == 0


def test_several_workers_bill_every_record_exactly_once(setup: Setup) -> None:
    s = setup
    put(s, "Company", s.company, billingMethod="pseudoprepaid", balance=D("100"))
    for i in range(120):
        cdr(s.db, callid=f"par-{i}", company=s.company, brand=s.brand, callee="+34944048184", duration=60,
            start=T0, carrier=s.carrier)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            bill_pending(s.db, T0, batch=7, send_mail=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    t_bc = ENTITY["BillableCall"].table
    with s.db.connect() as c:
        per_call = dict(c.execute(select(t_bc.c.callid, func.count()).group_by(t_bc.c.callid)).all())
    assert len(per_call) == 120 and set(per_call.values()) == {1}
    # every call paid once: 120 x 0.03
    assert company(s.db, s.company).balance == D("100") - 120 * D("0.0300")
    assert len(movements(s.db, companyId=s.company)) == 120


def test_unclaimed_record_is_billed_after_a_crash(setup: Setup) -> None:
    """A pass that dies before its commit leaves no trace: the next pass bills the record."""
    s = setup
    cdr(s.db, callid="crash", company=s.company, brand=s.brand, callee="+34944048184", duration=60, start=T0)
    original = billing._settle

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("worker killed")

    billing._settle = boom  # type: ignore[assignment]
    try:
        with contextlib.suppress(RuntimeError):
            _bill(s)
        assert _bc_count(s.db) == 0
    finally:
        billing._settle = original  # type: ignore[assignment]
    assert _bill(s).billed == 1
    assert billable(s.db, "crash").price == D("0.0300")
    put(s, "Company", s.company, currentDayUsage=0)  # the claim, not the usage, prevents double billing
    assert _bill(s).billed == 0
