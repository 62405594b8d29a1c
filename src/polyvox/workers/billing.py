"""Call records -> billable calls, balances, daily usage, notifications (spec 8.13, 9.4, 9.6.2,
12.6). The decisions where the spec is silent are in ``docs/billing.md``.

One pass (:func:`bill_pending`):

1. reset ``currentDayUsage`` of the clients whose local day changed (:func:`reset_daily_usage`);
2. take up to ``batch`` ``kam_trunks_cdrs`` rows without a ``billing_cdr_claims`` row (oldest
   first; PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so that several workers share the work);
3. in ONE transaction: insert the billable calls, the claims, the balance movements, the new
   balances and usages, the notifications to send (outbox). A claim that already exists (another
   worker won) rolls the transaction back and the batch is redone record by record, skipping the
   claimed ones: a record is billed exactly once;
4. after the commit: hang up the calls of the clients that ran out of balance or reached their
   max daily usage, and send the queued e-mails.

Prices and costs come from :mod:`polyvox.domain.rating` (``simulate_call`` with the client's or
carrier's profile active at the call's start, routing-tag aware) and balances from
:mod:`polyvox.domain.billing` (``settle_call``, ``prepaid_debit``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from polyvox.db.billing_state import billing_cdr_claims, billing_prepaid_debits, billing_usage_days
from polyvox.db.cdr import kam_trunks_cdrs
from polyvox.db.model import ENTITY
from polyvox.domain.billing import (
    BillingAccount,
    BillingMethod,
    daily_limit_reached,
    prepaid_debit,
    settle_call,
)
from polyvox.domain.rating import RatedCall
from polyvox.workers import notify
from polyvox.workers.accounts import Loaded, Rater, aware, naive_utc

log = logging.getLogger("polyvox.workers.billing")

ZERO = Decimal("0.0000")
CDR = kam_trunks_cdrs
# endpoint kinds written by the proxies -> BillableCall.endpointType (spec 8.13)
ENDPOINT_TYPES = {"terminal": "User", "user": "User", "friend": "Friend", "retail": "RetailAccount",
                  "residential": "ResidentialDevice", "fax": "Fax"}
ENDPOINT_ENTITY = {"Friend": "Friend", "RetailAccount": "RetailAccount", "ResidentialDevice": "ResidentialDevice",
                   "Fax": "Fax"}


def _t(name: str) -> Any:
    return ENTITY[name].table


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.0001"))


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class PassResult:
    billed: int = 0
    skipped: int = 0
    cut: set[int] = field(default_factory=set)  # clients whose calls must be hung up now
    hung_up: int = 0
    mails: int = 0


@dataclass
class _Effects:
    cut: set[int] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------
# daily usage (spec 9.4.3 "Current day usages", 12.6)


def local_day(rater: Rater, company: Any, moment: dt.datetime) -> dt.date:
    tz_id = company.defaultTimezoneId or rater.brand_defaults(company.brandId)[0]
    return moment.astimezone(rater.zone(tz_id)).date()


def _usage_day(conn: Connection, rater: Rater, company: Any, now: dt.datetime) -> tuple[dt.date, bool]:
    """The client's current usage day (resetting the counter when the local day changed) and
    whether today's max-daily-usage e-mail was already queued."""
    today = local_day(rater, company, now)
    key = ("usage_day", company.id)
    cached = rater.memo.get(key)
    if cached is not None and cached[0] >= today:
        return cached  # type: ignore[no-any-return]
    ud = billing_usage_days
    row = conn.execute(select(ud).where(ud.c.companyId == company.id)).first()
    result: tuple[dt.date, bool]
    if row is None:
        conn.execute(insert(ud).values(companyId=company.id, day=today, maxNotified=False))
        result = (today, False)
    elif row.day < today:
        co = _t("Company")
        conn.execute(update(co).where(co.c.id == company.id).values(currentDayUsage=ZERO))
        conn.execute(update(ud).where(ud.c.companyId == company.id).values(day=today, maxNotified=False))
        result = (today, False)
    else:  # today, or a newer day when the clock went back: keep the newer day
        result = (row.day, bool(row.maxNotified))
    rater.memo[key] = result
    return result


def reset_daily_usage(engine: Engine, now: dt.datetime | None = None) -> int:
    """Reset ``currentDayUsage`` of every client whose local midnight passed; returns how many."""
    now = now or dt.datetime.now(dt.UTC)
    co, ud = _t("Company"), billing_usage_days
    count = 0
    with engine.begin() as conn:
        write_lock(conn)
        rater = Rater(conn)
        days = {r.companyId: r.day for r in conn.execute(select(ud.c.companyId, ud.c.day))}
        for company in conn.execute(select(co.c.id, co.c.brandId, co.c.defaultTimezoneId, co.c.currentDayUsage)):
            today = local_day(rater, company, now)
            if days.get(company.id) == today:
                continue
            if company.id in days and days[company.id] > today:
                continue
            _usage_day(conn, rater, company, now)
            if company.id in days or (company.currentDayUsage or 0) != 0:
                count += 1
    return count


# ---------------------------------------------------------------------------------------------
# balances


def change_balance(conn: Connection, owner: str, owner_row: Any, amount: Decimal, now: dt.datetime,
                   usage: Decimal | None = None, rater: Rater | None = None) -> tuple[Decimal, Decimal]:
    """Add ``amount`` (negative = debit) to a client's (``owner`` "company") or carrier's balance
    atomically, record the movement, queue the balance notifications crossed; ``usage`` is added
    to the client's current day usage. Returns (balance before, balance after)."""
    table = _t("Company") if owner == "company" else _t("Carrier")
    values: dict[str, Any] = {"balance": func.coalesce(table.c.balance, 0) + amount}
    if usage is not None and usage != 0:
        values["currentDayUsage"] = func.coalesce(table.c.currentDayUsage, 0) + usage
    after = _dec(conn.execute(update(table).where(table.c.id == owner_row.id).values(**values)
                              .returning(table.c.balance)).scalar())
    before = after - amount
    if amount != 0:
        bm = _t("BalanceMovement")
        conn.execute(insert(bm).values(**{f"{owner}Id": owner_row.id, "brandId": owner_row.brandId,
                                          "amount": amount, "balance": after, "createdOn": naive_utc(now)
                                          .replace(microsecond=0)}))
        check_balance_notifications(conn, owner, owner_row, before, after, now, rater)
    return before, after


def check_balance_notifications(conn: Connection, owner: str, owner_row: Any, before: Decimal, after: Decimal,
                                now: dt.datetime, rater: Rater | None = None) -> int:
    """Queue the low-balance e-mails whose threshold the balance just went under (once per
    crossing: the balance must be back at or above the threshold before the next e-mail)."""
    bn = _t("BalanceNotification")
    col = bn.c.companyId if owner == "company" else bn.c.carrierId
    queued = 0
    key = ("notifications", owner, owner_row.id)
    rows = rater.memo.get(key) if rater is not None else None
    if rows is None:
        rows = list(conn.execute(select(bn.c.id, bn.c.threshold, bn.c.toAddress, bn.c.notificationTemplateId)
                                 .where(col == owner_row.id).order_by(bn.c.id)))
        if rater is not None:
            rater.memo[key] = rows
    for n in rows:
        threshold = _dec(n.threshold)
        if not (before >= threshold > after):
            continue
        ok = notify.queue(conn, kind="lowbalance", to=n.toAddress or "", template_id=n.notificationTemplateId,
                          company_id=owner_row.id if owner == "company" else None, brand_id=owner_row.brandId,
                          variables={"BALANCE_NAME": owner_row.name or "", "BALANCE_AMOUNT": f"{after:.4f}"},
                          now=now)
        if ok:
            conn.execute(update(bn).where(bn.c.id == n.id).values(lastSent=naive_utc(now).replace(microsecond=0)))
            queued += 1
    return queued


def _max_daily(company: Any) -> Decimal | None:
    # empty or 0 = no limit, as proxy-trunks admits calls (docs/sip.md; docs/billing.md decision 10)
    return Decimal(company.maxDailyUsage) if company.maxDailyUsage else None


def _after_usage(conn: Connection, company_id: int, now: dt.datetime, rater: Rater, effects: _Effects,
                 prepaid_cut: bool) -> None:
    """Decide hang-ups and the max daily usage e-mail from the client's current values."""
    co, ud = _t("Company"), billing_usage_days
    company = conn.execute(select(co).where(co.c.id == company_id)).first()
    if company is None:
        return
    method = BillingMethod(company.billingMethod or "postpaid")
    if prepaid_cut and method is BillingMethod.PREPAID and _dec(company.balance) <= 0:
        effects.cut.add(company_id)
    if method is BillingMethod.NONE:
        return
    if daily_limit_reached(_dec(company.currentDayUsage), _max_daily(company)):
        effects.cut.add(company_id)
        _day, notified = _usage_day(conn, rater, company, now)
        if not notified:
            template = company.maxDailyUsageNotificationTemplateId
            if template is None:
                b = _t("Brand")
                template = conn.execute(select(b.c.maxDailyUsageNotificationTemplateId)
                                        .where(b.c.id == company.brandId)).scalar()
            notify.queue(conn, kind="maxDailyUsage", to=company.maxDailyUsageEmail or "", template_id=template,
                         company_id=company.id, brand_id=company.brandId,
                         variables={"MAXDAILYUSAGE_COMPANY": company.name or "",
                                    "MAXDAILYUSAGE_AMOUNT": f"{company.maxDailyUsage}"}, now=now)
            conn.execute(update(ud).where(ud.c.companyId == company.id).values(maxNotified=True))
            rater.memo[("usage_day", company.id)] = (_day, True)


# ---------------------------------------------------------------------------------------------
# one record


def _ceil(value: Any) -> int:
    return max(0, math.ceil(float(value or 0) - 1e-9))


def _is_bounced(cdr: Any) -> bool:
    # proxy-trunks writes a bounced call (a client calling one of the platform's own DDIs) as two
    # records with bounced = true: the calling client's outbound one (priced, cost 0) and the
    # DDI client's inbound one (listed, never priced): billed once (docs/sip.md §9.5)
    return bool(cdr.bounced)


def _endpoint(conn: Connection, cdr: Any) -> tuple[str | None, int | None, str | None]:
    kind = (cdr.endpointType or "").strip()
    etype = ENDPOINT_TYPES.get(kind.lower(), kind if kind in ENDPOINT_TYPES.values() else None)
    if etype is None or cdr.endpointId is None:
        return None, None, None
    if etype == "User":
        u, ext = _t("User"), _t("Extension")
        if kind.lower() == "terminal":
            user = conn.execute(select(u.c.id, u.c.name, u.c.extensionId).where(u.c.terminalId == cdr.endpointId)
                                .limit(1)).first()
        else:
            user = conn.execute(select(u.c.id, u.c.name, u.c.extensionId).where(u.c.id == cdr.endpointId)).first()
        if user is None:
            return None, None, None
        number = conn.execute(select(ext.c.number).where(ext.c.id == user.extensionId)).scalar() \
            if user.extensionId else None
        return "User", user.id, str(number or user.name or "")[:65]
    table = _t(ENDPOINT_ENTITY[etype])
    name = conn.execute(select(table.c.name).where(table.c.id == cdr.endpointId)).scalar()
    return etype, cdr.endpointId, (str(name)[:65] if name is not None else None)


def price_details(rated: RatedCall) -> dict[str, Any]:
    rate, cost = rated.match.rate, rated.cost
    return {"destination": rate.destination, "prefix": rate.prefix, "ratePerMinute": str(rate.per_minute),
            "connectionFee": str(rate.connection_fee), "rateIncrement": rate.increment,
            "intervalStart": rate.interval_start, "periods": cost.periods,
            "deductibleConnectionFee": rated.match.deductible_connection_fee, "total": str(cost.total),
            "charged": str(cost.charged), "refund": str(cost.refund), "currency": rated.currency}


@dataclass(frozen=True)
class Pricing:
    price: Decimal | None
    cost: Decimal | None
    rated: RatedCall | None
    plan_group_id: int | None
    destination_id: int | None
    details: dict[str, Any] | None


def compute_pricing(conn: Connection, rater: Rater, *, company: Any, carrier: Any | None, callee: str,
                    start: dt.datetime, duration: int, direction: str, bounced: bool,
                    routing_tag: str | None) -> Pricing:
    """Price (client) and cost (carrier) of an outbound call; inbound calls have neither."""
    if direction != "outbound":
        return Pricing(None, None, None, None, None, None)
    price: Decimal | None = None
    rated: RatedCall | None = None
    group_id = dest_id = None
    details: dict[str, Any] | None = None
    if (company.billingMethod or "postpaid") != "none":
        loaded: Loaded = rater.company(company.id, company)
        r = rater.rate(loaded, callee, start, duration, routing_tag)
        if r.rated is not None:
            rated, price, group_id = r.rated, r.rated.price, r.plan_group_id
            dest_id = rater.destination_id(company.brandId, r.rated.prefix)
            details = price_details(r.rated)
        elif r.cannot is not None:
            details = {"error": r.cannot.reason.value, "detail": r.cannot.detail}
    cost: Decimal | None = None
    if bounced:
        cost = ZERO
    elif carrier is not None and carrier.calculateCost:
        c = rater.rate(rater.carrier(carrier.id, carrier), callee, start, duration)
        if c.rated is not None:
            cost = c.rated.price
        elif c.cannot is not None:
            details = {**(details or {}), "costError": c.cannot.reason.value, "costDetail": c.cannot.detail}
    return Pricing(price, cost, rated, group_id, dest_id, details)


def _row(conn: Connection, rater: Rater, entity: str, ident: int | None) -> Any:
    """A client or carrier row, read once per pass: only its static columns (name, brand,
    billing method, limits, templates) are used from it; balances are read back from the
    updates."""
    if ident is None:
        return None
    key = ("row", entity, ident)
    if key not in rater.memo:
        t = _t(entity)
        rater.memo[key] = conn.execute(select(t).where(t.c.id == ident)).first()
    return rater.memo[key]


def _bill_one(conn: Connection, rater: Rater, cdr: Any, now: dt.datetime, effects: _Effects) -> str:
    """Turn one record into a billable call and apply its money. Returns the claim outcome."""
    claim = {"cdrId": cdr.id, "claimedAt": naive_utc(now).replace(microsecond=0)}
    answered = cdr.answerTime is not None and (cdr.disconnectCode in (None, 200))
    if not answered:
        conn.execute(insert(billing_cdr_claims).values(**claim, outcome="skipped_unanswered"))
        return "skipped"
    company = _row(conn, rater, "Company", cdr.companyId)
    if company is None:
        conn.execute(insert(billing_cdr_claims).values(**claim, outcome="skipped_no_company"))
        return "skipped"
    bounced = _is_bounced(cdr)
    direction = cdr.direction
    start = aware(cdr.startTime) or now
    duration = _ceil(cdr.duration)
    carrier = None
    if cdr.carrierId is not None and not bounced:
        carrier = _row(conn, rater, "Carrier", cdr.carrierId)
    tag = rater.tag(cdr.routingTagId)
    pricing = compute_pricing(conn, rater, company=company, carrier=carrier, callee=cdr.callee or "",
                              start=start, duration=duration, direction=direction, bounced=bounced,
                              routing_tag=tag)
    ekey = ("endpoint", cdr.endpointType, cdr.endpointId)
    if ekey not in rater.memo:
        rater.memo[ekey] = _endpoint(conn, cdr)
    etype, eid, ename = rater.memo[ekey]
    bc = _t("BillableCall")
    values = {
        "brandId": cdr.brandId or company.brandId, "companyId": company.id, "callid": cdr.callid,
        "caller": cdr.caller, "callee": cdr.callee, "startTime": naive_utc(start).replace(microsecond=0),
        "duration": Decimal(duration), "direction": direction,
        "carrierId": carrier.id if carrier is not None else None,
        "carrierName": (carrier.name or "")[:200] if carrier is not None else None,
        "ddiId": cdr.ddiId, "ddiProviderId": cdr.ddiProviderId,
        "endpointType": etype, "endpointId": eid, "endpointName": ename,
        "price": pricing.price, "cost": pricing.cost, "ratingPlanGroupId": pricing.plan_group_id,
        "ratingPlanName": pricing.rated.plan_name[:55] if pricing.rated else None,
        "destinationId": pricing.destination_id,
        "destinationName": pricing.rated.destination[:100] if pricing.rated else None,
        "priceDetails": pricing.details, "numRecordings": 0,
    }
    bc_id = conn.execute(insert(bc).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(insert(billing_cdr_claims).values(**claim, billableCallId=bc_id, outcome="billed"))
    # money: the client's
    if pricing.rated is not None and pricing.price is not None:
        _settle(conn, rater, company, cdr, pricing.rated, now, effects)
    # the carrier's: balance decremented by the cost; a carrier is never disabled by it
    if carrier is not None and pricing.cost is not None and pricing.cost != 0:
        change_balance(conn, "carrier", carrier, -pricing.cost, now, rater=rater)
    return "billed"


def _settle(conn: Connection, rater: Rater, company: Any, cdr: Any, rated: RatedCall, now: dt.datetime,
            effects: _Effects) -> None:
    method = BillingMethod(company.billingMethod or "postpaid")
    if method is BillingMethod.NONE:
        return
    pd = billing_prepaid_debits
    debited = ZERO
    if method is BillingMethod.PREPAID:
        row = conn.execute(select(pd.c.debited).where(pd.c.callid == cdr.callid)).first()
        if row is not None:
            debited = _dec(row.debited)
            conn.execute(delete(pd).where(pd.c.callid == cdr.callid))
    account = BillingAccount(rating=rater.company(company.id, company).account, billing_method=method,
                             balance=_dec(company.balance), current_day_usage=_dec(company.currentDayUsage),
                             max_daily_usage=_max_daily(company))
    s = settle_call(account, rated.cost, debited_during_call=debited)
    usage_delta = s.current_day_usage - account.current_day_usage
    day, _ = _usage_day(conn, rater, company, now)
    end = aware(cdr.endTime) or now
    if local_day(rater, company, end) != day:
        usage_delta = ZERO  # the call ended on a day whose counter was already reset
    if s.movement != 0:
        change_balance(conn, "company", company, s.movement, now, usage=usage_delta, rater=rater)
    elif usage_delta != 0:
        co = _t("Company")
        conn.execute(update(co).where(co.c.id == company.id)
                     .values(currentDayUsage=func.coalesce(co.c.currentDayUsage, 0) + usage_delta))
    _after_usage(conn, company.id, now, rater, effects, prepaid_cut=True)


# ---------------------------------------------------------------------------------------------
# a pass


def write_lock(conn: Connection) -> None:
    """SQLite: take the database write lock before reading, so that concurrent workers wait
    for each other (busy timeout) instead of failing on a stale read snapshot. PostgreSQL locks
    rows instead (``FOR UPDATE``)."""
    if conn.dialect.name == "sqlite":
        conn.execute(update(billing_usage_days).where(billing_usage_days.c.companyId == -1).values(maxNotified=False))


def _pending(conn: Connection, batch: int) -> list[Any]:
    cl = billing_cdr_claims
    q = (select(CDR).outerjoin(cl, cl.c.cdrId == CDR.c.id).where(cl.c.cdrId.is_(None))
         .order_by(CDR.c.id).limit(batch))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(of=CDR, skip_locked=True)
    return list(conn.execute(q))


Hangup = Callable[[int], int]


def bill_pending(engine: Engine, now: dt.datetime | None = None, *, batch: int = 100,
                 hangup: Hangup | None = None, send_mail: bool = True,
                 smtp: notify.SmtpSettings | None = None) -> PassResult:
    """Bill every pending call record (in batches); see the module docstring."""
    result = PassResult()
    while True:
        now_ = now or dt.datetime.now(dt.UTC)
        effects = _Effects()
        counts = _bill_batch(engine, now_, batch, effects)
        if counts is None:
            break
        billed, skipped, seen = counts
        result.billed += billed
        result.skipped += skipped
        result.cut |= effects.cut
        if seen < batch:
            break
    if hangup is not None:
        for company_id in sorted(result.cut):
            try:
                result.hung_up += hangup(company_id)
            except Exception:  # a failing proxy must not stop billing
                log.exception("hanging up the calls of client %s failed", company_id)
    if send_mail:
        result.mails = notify.send_pending(engine, smtp)
    return result


def _bill_batch(engine: Engine, now: dt.datetime, batch: int, effects: _Effects) -> tuple[int, int, int] | None:
    billed = skipped = 0
    try:
        with engine.begin() as conn:
            write_lock(conn)
            rows = _pending(conn, batch)
            if not rows:
                return None
            rater = Rater(conn)
            for cdr in rows:
                if _bill_one(conn, rater, cdr, now, effects) == "billed":
                    billed += 1
                else:
                    skipped += 1
        return billed, skipped, len(rows)
    except IntegrityError:
        # another worker claimed one of these records meanwhile: redo one by one
        effects.cut.clear()
        billed = skipped = 0
        with engine.connect() as conn:
            ids = [r.id for r in _pending(conn, batch)]
            conn.rollback()
        for cdr_id in ids:
            try:
                with engine.begin() as conn:
                    write_lock(conn)
                    cl = billing_cdr_claims
                    row = conn.execute(select(CDR).outerjoin(cl, cl.c.cdrId == CDR.c.id)
                                       .where(CDR.c.id == cdr_id, cl.c.cdrId.is_(None))).first()
                    if row is None:
                        continue
                    if _bill_one(conn, Rater(conn), row, now, effects) == "billed":
                        billed += 1
                    else:
                        skipped += 1
            except IntegrityError:
                continue
        return billed, skipped, len(ids)


# ---------------------------------------------------------------------------------------------
# prepaid: interim debits of running calls


@dataclass(frozen=True)
class RunningCall:
    """An established external outbound call, as reported by proxy-trunks."""

    callid: str
    company_id: int
    callee: str
    start: dt.datetime
    answer: dt.datetime
    routing_tag_id: int | None = None


def debit_running_calls(engine: Engine, calls: Iterable[RunningCall], now: dt.datetime | None = None) -> set[int]:
    """Prepaid clients pay during the call (spec 9.4.1): for every running call of a prepaid
    client, debit what :func:`polyvox.domain.billing.prepaid_debit` says is due at this moment
    (connection fee + every started charge period, in advance) and remember it for the
    settlement at hang-up. Returns the clients whose calls must be hung up (balance reached
    zero, or max daily usage reached)."""
    now = now or dt.datetime.now(dt.UTC)
    effects = _Effects()
    co, pd = _t("Company"), billing_prepaid_debits
    with engine.begin() as conn:
        write_lock(conn)
        rater = Rater(conn)
        for call in calls:
            company = conn.execute(select(co).where(co.c.id == call.company_id)).first()
            if company is None or company.billingMethod != "prepaid":
                continue
            start, answer = aware(call.start) or now, aware(call.answer) or now
            elapsed = max(0, math.ceil((now - answer).total_seconds()))
            r = rater.rate(rater.company(company.id, company), call.callee, start, max(elapsed, 0),
                           rater.tag(call.routing_tag_id))
            if r.rated is None:
                continue
            prev = conn.execute(select(pd).where(pd.c.callid == call.callid)).first()
            already = _dec(prev.debited) if prev is not None else ZERO
            d = prepaid_debit(r.rated.match.rate, elapsed, already, _dec(company.balance),
                              current_day_usage=_dec(company.currentDayUsage),
                              max_daily_usage=_max_daily(company))
            if d.amount > 0:
                _usage_day(conn, rater, company, now)
                change_balance(conn, "company", company, -d.amount, now, usage=d.amount, rater=rater)
                total = already + d.amount
                if prev is None:
                    conn.execute(insert(pd).values(callid=call.callid, companyId=company.id, debited=total,
                                                   paidUntil=d.paid_until, updatedAt=naive_utc(now)))
                else:
                    conn.execute(update(pd).where(pd.c.callid == call.callid)
                                 .values(debited=total, paidUntil=d.paid_until, updatedAt=naive_utc(now)))
            if d.hangup:
                effects.cut.add(company.id)
            _after_usage(conn, company.id, now, rater, effects, prepaid_cut=True)
    return effects.cut


def clients_to_cut(engine: Engine) -> set[int]:
    """Clients whose calls must not go on now: prepaid with balance <= 0, or today's usage at
    or above max daily usage (billing method other than none)."""
    co = _t("Company")
    out: set[int] = set()
    with engine.connect() as conn:
        q = select(co.c.id, co.c.billingMethod, co.c.balance, co.c.currentDayUsage, co.c.maxDailyUsage)
        for r in conn.execute(q.where(co.c.billingMethod != "none")):
            no_balance = r.billingMethod == "prepaid" and _dec(r.balance) <= 0
            if no_balance or daily_limit_reached(_dec(r.currentDayUsage), _max_daily(r)):
                out.add(r.id)
    return out


# ---------------------------------------------------------------------------------------------
# rerating (spec 8.13.1)


class RerateError(ValueError):
    def __init__(self, message: str, ids: Sequence[int]) -> None:
        super().__init__(message)
        self.ids = list(ids)


def rerate(conn: Connection, billable_call_ids: Sequence[int]) -> int:
    """Recompute price, cost, rating plan and destination of outbound billable calls with the
    rating profiles active at each call's start. Invoiced calls are refused (``RerateError``).
    Balances are not touched (docs/billing.md)."""
    bc = _t("BillableCall")
    rows = list(conn.execute(select(bc).where(bc.c.id.in_(list(billable_call_ids))).order_by(bc.c.id)))
    invoiced = [r.id for r in rows if r.invoiceId is not None]
    if invoiced:
        raise RerateError("Calls included in an invoice cannot be rerated; delete the invoice first", invoiced)
    inbound = [r.id for r in rows if r.direction != "outbound"]
    if inbound:
        raise RerateError("Only outbound calls can be rerated", inbound)
    rater = Rater(conn)
    co, ca, cl = _t("Company"), _t("Carrier"), billing_cdr_claims
    for r in rows:
        company = conn.execute(select(co).where(co.c.id == r.companyId)).first()
        if company is None:
            continue
        carrier = conn.execute(select(ca).where(ca.c.id == r.carrierId)).first() if r.carrierId else None
        cdr = conn.execute(select(CDR).join(cl, cl.c.cdrId == CDR.c.id)
                           .where(cl.c.billableCallId == r.id)).first()
        bounced = _is_bounced(cdr) if cdr is not None else False
        tag = rater.tag(cdr.routingTagId) if cdr is not None else None
        p = compute_pricing(conn, rater, company=company, carrier=carrier, callee=r.callee or "",
                            start=aware(r.startTime) or dt.datetime.now(dt.UTC), duration=_ceil(r.duration),
                            direction="outbound", bounced=bounced, routing_tag=tag)
        conn.execute(update(bc).where(and_(bc.c.id == r.id, bc.c.invoiceId.is_(None))).values(
            price=p.price, cost=p.cost, ratingPlanGroupId=p.plan_group_id,
            ratingPlanName=p.rated.plan_name[:55] if p.rated else None, destinationId=p.destination_id,
            destinationName=p.rated.destination[:100] if p.rated else None, priceDetails=p.details))
    return len(rows)


__all__ = ["PassResult", "RerateError", "RunningCall", "bill_pending", "change_balance", "clients_to_cut",
           "compute_pricing", "debit_running_calls", "rerate", "reset_daily_usage"]
