"""Rating and routing write rules: routing tags, rating plans and profiles, currencies, destination rates."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import E164_PREFIX, table

ROUTING_TAG = re.compile(r"^[0-9]{1,3}#$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pre_persist("RoutingTag")
def routing_tag_format(ctx: WriteContext) -> None:
    """Spec 9.3.4: a routing tag is 1 to 3 digits followed by #."""
    tag = ctx.value("tag")
    if tag is not None and not ROUTING_TAG.match(tag):
        raise invalid("tag", "Routing tag must be 1 to 3 digits followed by '#', e.g. '12#'.")


def _currency_of(conn: Connection, entity: str, ident: int | None) -> int | None:
    if ident is None:
        return None
    t = table(entity)
    return conn.execute(select(t.c.currencyId).where(t.c.id == ident)).scalar()


def _brand_currency(conn: Connection, brand_id: int | None) -> int | None:
    if brand_id is None:
        return None
    t = table("Brand")
    return conn.execute(select(t.c.currencyId).where(t.c.id == brand_id)).scalar()


def _effective(conn: Connection, entity: str, ident: int | None, brand_id: int | None) -> int | None:
    """A currency left empty means the brand's default currency (spec 8.6)."""
    return _currency_of(conn, entity, ident) or _brand_currency(conn, brand_id)


@pre_persist("RatingPlan")
def rating_plan_currency_and_coverage(ctx: WriteContext) -> None:
    conn = ctx.conn
    group, drg = ctx.value("ratingPlanGroupId"), ctx.value("destinationRateGroupId")
    brand = table("RatingPlanGroup")
    brand_id = conn.execute(select(brand.c.brandId).where(brand.c.id == group)).scalar()
    if group is not None and drg is not None and \
            _effective(conn, "RatingPlanGroup", group, brand_id) != _effective(conn, "DestinationRateGroup", drg, brand_id):
        raise invalid("destinationRateGroup",
                      "Rating plans must only group destination rates using their currency (spec 8.6).")
    if ctx.value("timingType") == "custom" and ctx.value("timeIn") is None:
        raise invalid("timeIn", "A custom timing needs a start time.")
    this = ctx.old["id"] if ctx.old else None
    if group is not None and _in_use(conn, group):
        plans = _group_timings(conn, group, exclude=this)
        plans.append(_timing(ctx.new))
        gaps = uncovered(plans)
        if gaps:
            raise invalid("timingType", "A rating plan MUST be capable of rating calls 24x7 (spec 9.4.3) and this "
                                        f"one rates calls already; not covered: {format_gaps(gaps)}")
    before = ctx.old.get("ratingPlanGroupId") if ctx.old else None
    if before is not None and before != group and _in_use(conn, before):
        gaps = uncovered(_group_timings(conn, before, exclude=this))
        if gaps:
            raise invalid("ratingPlanGroup", "Moving this destination rate would leave its rating plan, which rates "
                                             f"calls, unable to rate 24x7: {format_gaps(gaps)}")


def _in_use(conn: Connection, group: int) -> bool:
    """A rating plan group rates calls once a rating profile of a client or carrier uses it. The
    24x7 warning of spec 9.4.3 holds from then on; before, the plan is being built and may be
    assembled from partial timings (weekdays, then weekends) in any order."""
    rp = table("RatingProfile")
    return conn.execute(select(rp.c.id).where(rp.c.ratingPlanGroupId == group).limit(1)).first() is not None


def check_covers_week(conn: Connection, group: int, field: str) -> None:
    gaps = uncovered(_group_timings(conn, group, exclude=None))
    if gaps:
        raise invalid(field, "A rating plan MUST be capable of rating calls 24x7 (spec 9.4.3); not covered: "
                             + format_gaps(gaps))


def _timing(row: dict[str, Any]) -> tuple[str, dt.time | None, tuple[bool, ...]]:
    days = tuple(bool(row.get(d)) if row.get(d) is not None else True for d in WEEKDAYS)
    return (row.get("timingType") or "always", row.get("timeIn"), days)


def _group_timings(conn: Connection, group: int, exclude: int | None) -> list[tuple[str, dt.time | None, tuple[bool, ...]]]:
    t = table("RatingPlan")
    q = select(t).where(t.c.ratingPlanGroupId == group)
    if exclude is not None:
        q = q.where(t.c.id != exclude)
    return [_timing(dict(r._mapping)) for r in conn.execute(q)]


def uncovered(plans: list[tuple[str, dt.time | None, tuple[bool, ...]]]) -> list[tuple[int, int, int]]:
    """Minutes of the week no plan covers, as (weekday, from-minute, to-minute) runs.

    A custom timing applies on its weekdays from ``timeIn`` to the end of the day.
    """
    covered = [[False] * 1440 for _ in range(7)]
    for kind, time_in, days in plans:
        start = 0 if kind == "always" or time_in is None else time_in.hour * 60 + time_in.minute
        for d in range(7):
            if kind == "always" or days[d]:
                for m in range(start, 1440):
                    covered[d][m] = True
    gaps = []
    for d in range(7):
        m = 0
        while m < 1440:
            if not covered[d][m]:
                s = m
                while m < 1440 and not covered[d][m]:
                    m += 1
                gaps.append((d, s, m))
            else:
                m += 1
    return gaps


def format_gaps(gaps: list[tuple[int, int, int]]) -> str:
    def hm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"
    return "; ".join(f"{WEEKDAYS[d]} {hm(s)}-{hm(e)}" for d, s, e in gaps[:7]) + (" ..." if len(gaps) > 7 else "")


@pre_remove("RatingPlan")
def rating_plan_delete_keeps_coverage(ctx: WriteContext) -> None:
    conn, row = ctx.conn, ctx.new
    if row["ratingPlanGroupId"] is None or not _in_use(conn, row["ratingPlanGroupId"]):
        return
    plans = _group_timings(conn, row["ratingPlanGroupId"], exclude=row["id"])
    if uncovered(plans):
        raise ApiError(400, "Deleting this rating plan would leave its group unable to rate calls 24x7: "
                            f"{format_gaps(uncovered(plans))}", field="timingType")


@pre_persist("RatingProfile")
def rating_profile_currency(ctx: WriteContext) -> None:
    """Spec 8.6: clients and carriers must only use rating plans using their currency."""
    conn = ctx.conn
    group = ctx.value("ratingPlanGroupId")
    if group is None:
        raise invalid("ratingPlanGroup", "This value should not be blank.")
    company, carrier = ctx.value("companyId"), ctx.value("carrierId")
    if (company is None) == (carrier is None):
        raise invalid("company", "A rating profile belongs to exactly one client or one carrier.")
    brand_id = ctx.value("brandId")
    plan_currency = _effective(conn, "RatingPlanGroup", group, brand_id)
    if company is not None:
        owner, owner_cur = "company", _effective(conn, "Company", company, brand_id)
    else:
        owner, owner_cur = "carrier", _effective(conn, "Carrier", carrier, brand_id)
    if plan_currency != owner_cur:
        raise invalid("ratingPlanGroup", f"The rating plan's currency differs from the {owner}'s (spec 8.6).")
    if ctx.changed("ratingPlanGroupId"):
        check_covers_week(conn, group, "ratingPlanGroup")


@pre_persist("Company", "Carrier")
def owner_currency_change(ctx: WriteContext) -> None:
    """Spec 8.6: a client's or carrier's currency stays while rating plans of it are assigned
    (an empty currency is the brand's)."""
    if ctx.old is None:
        return
    brand = ctx.value("brandId")
    if (ctx.old.get("currencyId") or _brand_currency(ctx.conn, brand)) == \
            (ctx.value("currencyId") or _brand_currency(ctx.conn, brand)):
        return
    rp = table("RatingProfile")
    col = rp.c.companyId if ctx.resource.name == "Company" else rp.c.carrierId
    n = ctx.conn.execute(select(func.count()).select_from(rp).where(col == ctx.old["id"])).scalar()
    if n:
        raise invalid("currency", "The currency cannot change while rating plans of the old currency are assigned.")


@pre_persist("DestinationRate")
def destination_rate_values(ctx: WriteContext) -> None:
    """DestinationRate setters: periods in seconds stored with their 's' (IvozProvider appends
    it), cost and connection fee of up to 6 integer digits, never negative."""
    for f in ("rateIncrement", "groupIntervalStart"):
        v = ctx.value(f)
        if v is not None and not re.fullmatch(r"[0-9]+s?", str(v)):
            raise invalid(f, "Expected a number of seconds, e.g. '60' or '60s'.")
        if v is not None and not str(v).endswith("s"):
            ctx.new[f] = f"{v}s"
    if ctx.value("rateIncrement") in ("0", "0s"):
        raise invalid("rateIncrement", "The charge period must be at least 1 second.")
    for f in ("cost", "connectFee"):
        v = ctx.value(f)
        if v is not None and not re.fullmatch(r"[0-9]{1,6}(\.[0-9]*)?", format(v, "f") if not isinstance(v, str)
                                               else v):
            raise invalid(f, "Expected a non-negative amount of at most 6 integer digits.")


@pre_persist("RatingPlan")
def rating_plan_always(ctx: WriteContext) -> None:
    """RatingPlan::sanitizeValues: a plan timed 'always' applies every day from 00:00."""
    if (ctx.value("timingType") or "always") == "always":
        ctx.new["timingType"] = "always"
        for d in WEEKDAYS:
            ctx.new[d] = True
        ctx.new["timeIn"] = dt.time(0, 0)


@pre_persist("RatingPlan")
def rating_plan_no_duplicate_group(ctx: WriteContext) -> None:
    """IvozProvider RatingPlan/CheckDestinationRateGroupDuplicates
    (RatingPlanGroup::assertNoDuplicatedDestinationRateGroups): a destination rate group appears
    once in a rating plan group."""
    t = table("RatingPlan")
    q = select(t.c.id).where(t.c.ratingPlanGroupId == ctx.value("ratingPlanGroupId"),
                             t.c.destinationRateGroupId == ctx.value("destinationRateGroupId"))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid("destinationRateGroup", "Duplicated destination rate group in rating plan group.")


@pre_persist("DestinationRateGroup")
def destination_rate_group_fee(ctx: WriteContext) -> None:
    """DestinationRateGroup::sanitizeValues: the deductible connection fee is set once."""
    if ctx.old is not None and ctx.changed("deductibleConnectionFee"):
        raise invalid("deductibleConnectionFee", "Deductible Connection Fee cannot be changed.")


@pre_persist("Destination")
def destination_prefix(ctx: WriteContext) -> None:
    """Destination::setPrefix: '+' and digits (E.164)."""
    prefix = ctx.value("prefix")
    if prefix is None or not E164_PREFIX.fullmatch(prefix):
        raise invalid("prefix", "A destination prefix is '+' followed by digits (E.164), e.g. '+34'.")


@pre_persist("RatingProfile")
def rating_profile_owner(ctx: WriteContext) -> None:
    """The rating plan group, client, carrier and routing tag of a profile are the brand's own;
    the profile's brand is its owner's."""
    conn, brand = ctx.conn, ctx.value("brandId")
    for col, entity in (("companyId", "Company"), ("carrierId", "Carrier")):
        ident = ctx.value(col)
        if ident is not None and brand is None:
            brand = ctx.new["brandId"] = conn.execute(select(table(entity).c.brandId)
                                                      .where(table(entity).c.id == ident)).scalar()
    for col, entity in (("ratingPlanGroupId", "RatingPlanGroup"), ("companyId", "Company"), ("carrierId", "Carrier"),
                        ("routingTagId", "RoutingTag")):
        ident = ctx.value(col)
        if ident is None:
            continue
        t = table(entity)
        if conn.execute(select(t.c.brandId).where(t.c.id == ident)).scalar() != brand:
            raise invalid(col[:-2], f"{entity} #{ident} belongs to another brand.")


# --- proxy trunks (spec 8.14.2)




@pre_persist("RatingPlanGroup", "DestinationRateGroup")
def group_currency_change(ctx: WriteContext) -> None:
    """Spec 8.6 (RatingPlan/RatingProfile CheckValidCurrency from the other side): a rating plan
    group or destination rate group keeps the currency its rating plans and profiles rely on."""
    if ctx.old is None:
        return
    conn, brand = ctx.conn, ctx.value("brandId")
    old_cur = ctx.old.get("currencyId") or _brand_currency(conn, brand)
    new_cur = ctx.value("currencyId") or _brand_currency(conn, brand)
    if old_cur == new_cur:
        return
    plans = table("RatingPlan")
    col = plans.c.ratingPlanGroupId if ctx.entity == "RatingPlanGroup" else plans.c.destinationRateGroupId
    used = conn.execute(select(func.count()).select_from(plans).where(col == ctx.old["id"])).scalar()
    if ctx.entity == "RatingPlanGroup":
        rp = table("RatingProfile")
        used = used or conn.execute(select(func.count()).select_from(rp)
                                    .where(rp.c.ratingPlanGroupId == ctx.old["id"])).scalar()
    if used:
        raise invalid("currency", "The currency cannot change while rating plans or profiles rely on it (spec 8.6).")
