"""The spec's write-time rules. Each raises a 400 naming the field; nothing is written."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.engine import AFTER_WRITE, DELETE_GUARDS, WriteContext, validator
from polyvox.api.errors import ApiError, invalid
from polyvox.db.model import ENTITY

ROUTING_TAG = re.compile(r"^[0-9]{1,3}#$")
OUTGOING_DDI_PREFIX = re.compile(r"^[0-9]{1,3}\*$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _t(name: str) -> Any:
    return ENTITY[name].table


@validator("RoutingTag")
def routing_tag_format(ctx: WriteContext) -> None:
    """Spec 9.3.4: a routing tag is 1 to 3 digits followed by #."""
    tag = ctx.value("tag")
    if tag is not None and not ROUTING_TAG.match(tag):
        raise invalid("tag", "Routing tag must be 1 to 3 digits followed by '#', e.g. '12#'.")


@validator("OutgoingDdiRulesPattern")
def outgoing_ddi_prefix_format(ctx: WriteContext) -> None:
    """Spec 10.1.x outgoing DDI rules: a prefix pattern is 1 to 3 digits followed by *."""
    if ctx.value("type") == "prefix":
        prefix = ctx.value("prefix")
        if not prefix or not OUTGOING_DDI_PREFIX.match(prefix):
            raise invalid("prefix", "Prefix must be 1 to 3 digits followed by '*', e.g. '0*'.")
    elif ctx.value("type") == "destination" and ctx.value("matchListId") is None:
        raise invalid("matchList", "A destination pattern needs a match list.")


@validator("WebPortal")
def portal_url(ctx: WriteContext) -> None:
    """Spec 8.11 / 9.7.1: portal URLs MUST be HTTPS and MUST NOT end with a slash."""
    url = ctx.value("url")
    if url is None:
        return
    if not url.lower().startswith("https://") or len(url) <= len("https://"):
        raise invalid("url", "Portal URLs must be HTTPS (https://...).")
    if url.endswith("/"):
        raise invalid("url", "Portal URLs must not end with a slash.")


@validator("Extension")
def extension_number(ctx: WriteContext) -> None:
    """Extensions have at least 2 digits (spec 10.1.3)."""
    number = ctx.value("number")
    if number is not None and not re.fullmatch(r"[0-9]{2,}", number):
        raise invalid("number", "Extension numbers must have at least 2 digits (digits only).")


@validator("Queue")
def linear_queue_conversion(ctx: WriteContext) -> None:
    """Spec 10.1.5: a non-linear queue cannot be converted to linear (and a linear one stays linear)."""
    if ctx.old is None:
        return
    old, new = ctx.old.get("strategy"), ctx.value("strategy")
    if old != new and "linear" in (old, new):
        raise invalid("strategy", "Linear queues are special: a queue cannot be converted to or from linear.")


@validator("User")
def user_email_required_for_portal(ctx: WriteContext) -> None:
    email = ctx.value("email")
    if email is not None and email != "" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if email == "":
        ctx.new["email"] = None


# --- currencies (spec 8.6): no conversion, so everything grouped must share one currency


def _currency_of(conn: Connection, entity: str, ident: int | None) -> int | None:
    if ident is None:
        return None
    t = _t(entity)
    return conn.execute(select(t.c.currencyId).where(t.c.id == ident)).scalar()


def _brand_currency(conn: Connection, brand_id: int | None) -> int | None:
    if brand_id is None:
        return None
    t = _t("Brand")
    return conn.execute(select(t.c.currencyId).where(t.c.id == brand_id)).scalar()


def _effective(conn: Connection, entity: str, ident: int | None, brand_id: int | None) -> int | None:
    """A currency left empty means the brand's default currency (spec 8.6)."""
    return _currency_of(conn, entity, ident) or _brand_currency(conn, brand_id)


@validator("RatingPlan")
def rating_plan_currency_and_coverage(ctx: WriteContext) -> None:
    conn = ctx.conn
    group, drg = ctx.value("ratingPlanGroupId"), ctx.value("destinationRateGroupId")
    brand = _t("RatingPlanGroup")
    brand_id = conn.execute(select(brand.c.brandId).where(brand.c.id == group)).scalar()
    if group is not None and drg is not None and \
            _effective(conn, "RatingPlanGroup", group, brand_id) != _effective(conn, "DestinationRateGroup", drg, brand_id):
        raise invalid("destinationRateGroup",
                      "Rating plans must only group destination rates using their currency (spec 8.6).")
    if ctx.value("timingType") == "custom" and ctx.value("timeIn") is None:
        raise invalid("timeIn", "A custom timing needs a start time.")
    if group is not None:
        plans = _group_timings(conn, group, exclude=ctx.old["id"] if ctx.old else None)
        plans.append(_timing(ctx.new))
        gaps = uncovered(plans)
        if gaps:
            raise invalid("timingType", "A rating plan MUST be capable of rating calls 24x7 (spec 9.4.3); "
                                        f"not covered: {format_gaps(gaps)}")


def _timing(row: dict[str, Any]) -> tuple[str, dt.time | None, tuple[bool, ...]]:
    days = tuple(bool(row.get(d)) if row.get(d) is not None else True for d in WEEKDAYS)
    return (row.get("timingType") or "always", row.get("timeIn"), days)


def _group_timings(conn: Connection, group: int, exclude: int | None) -> list[tuple[str, dt.time | None, tuple[bool, ...]]]:
    t = _t("RatingPlan")
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


def _delete_rating_plan_guard(conn: Connection, row: Any) -> None:
    plans = _group_timings(conn, row.ratingPlanGroupId, exclude=row.id)
    if plans and uncovered(plans):
        raise ApiError(400, "Deleting this rating plan would leave its group unable to rate calls 24x7: "
                            f"{format_gaps(uncovered(plans))}", field="timingType")


DELETE_GUARDS.setdefault("RatingPlan", []).append(_delete_rating_plan_guard)


@validator("RatingProfile")
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


@validator("Company", "Carrier")
def owner_currency_change(ctx: WriteContext) -> None:
    if ctx.old is None or ctx.old.get("currencyId") == ctx.value("currencyId"):
        return
    rp = _t("RatingProfile")
    col = rp.c.companyId if ctx.resource.name == "Company" else rp.c.carrierId
    n = ctx.conn.execute(select(func.count()).select_from(rp).where(col == ctx.old["id"])).scalar()
    if n:
        raise invalid("currency", "The currency cannot change while rating plans of the old currency are assigned.")


@validator("DestinationRate")
def destination_rate_values(ctx: WriteContext) -> None:
    for f in ("rateIncrement", "groupIntervalStart"):
        v = ctx.value(f)
        if v is not None and not re.fullmatch(r"[0-9]+s?", str(v)):
            raise invalid(f, "Expected a number of seconds, e.g. '60' or '60s'.")
    if ctx.value("rateIncrement") in ("0", "0s"):
        raise invalid("rateIncrement", "The charge period must be at least 1 second.")


# --- proxy trunks (spec 8.14.2)


@validator("ProxyTrunksRelBrand")
def proxy_trunk_unassign(ctx: WriteContext) -> None:
    if ctx.old is None:
        return
    if ctx.old.get("proxyTrunkId") != ctx.value("proxyTrunkId") or ctx.old.get("brandId") != ctx.value("brandId"):
        _proxy_trunk_in_use(ctx.conn, ctx.old["proxyTrunkId"], ctx.old["brandId"])


def _proxy_trunk_in_use(conn: Connection, trunk: int, brand: int | None) -> None:
    for ent in ("Carrier", "DdiProvider"):
        t = _t(ent)
        q = select(t.c.name).where(t.c.proxyTrunkId == trunk)
        if brand is not None:
            q = q.where(t.c.brandId == brand)
        used = conn.execute(q.limit(1)).scalar()
        if used is not None:
            raise ApiError(400, f"This proxy trunks address is in use by {ent} '{used}' and cannot be "
                                "unassigned or deleted.", field="proxyTrunk")


DELETE_GUARDS.setdefault("ProxyTrunksRelBrand", []).append(
    lambda conn, row: _proxy_trunk_in_use(conn, row.proxyTrunkId, row.brandId))


def _last_proxy_trunk_guard(conn: Connection, row: Any) -> None:
    """Spec 8.14.2: each brand keeps at least one proxy trunks address."""
    rel = _t("ProxyTrunksRelBrand")
    left = conn.execute(select(func.count()).select_from(rel).where(rel.c.brandId == row.brandId,
                                                                     rel.c.id != row.id)).scalar()
    if not left:
        raise ApiError(400, "A brand needs at least one proxy trunks address.", field="proxyTrunk")


DELETE_GUARDS["ProxyTrunksRelBrand"].append(_last_proxy_trunk_guard)
DELETE_GUARDS.setdefault("ProxyTrunk", []).append(lambda conn, row: _proxy_trunk_in_use(conn, row.id, None))


@validator("ProxyTrunk")
def proxy_trunk_addresses(ctx: WriteContext) -> None:
    """Spec 8.14.2: a proxy trunks entry is an IP address of the host (IPv4 or IPv6)."""
    for name in ("ip", "advertisedIp"):
        value = ctx.value(name)
        if value in (None, "") and name == "advertisedIp":
            continue
        try:
            ipaddress.ip_address(str(value))
        except ValueError as e:
            raise invalid(name, "This value is not a valid IP address.") from e


def _main_proxy_trunk_guard(conn: Connection, row: Any) -> None:
    """Spec 8.14.2: the main proxy trunks address (the first entry) cannot be removed."""
    first = conn.execute(select(func.min(_t("ProxyTrunk").c.id))).scalar()
    if row.id == first:
        raise ApiError(400, "The main proxy trunks address cannot be deleted.", field="ip")


DELETE_GUARDS["ProxyTrunk"].append(_main_proxy_trunk_guard)


@validator("Brand")
def brand_proxy_trunks(ctx: WriteContext) -> None:
    """Spec 8.14.2: an address assigned to the brand's carriers or DDI providers stays assigned."""
    if ctx.old is None or "proxyTrunks" not in ctx.m2m:
        return
    rel = _t("ProxyTrunksRelBrand")
    current = {r[0] for r in ctx.conn.execute(select(rel.c.proxyTrunkId).where(rel.c.brandId == ctx.old["id"]))}
    if current and not ctx.m2m["proxyTrunks"]:
        raise invalid("proxyTrunks", "A brand needs at least one proxy trunks address.")
    for removed in current - set(ctx.m2m["proxyTrunks"]):
        _proxy_trunk_in_use(ctx.conn, removed, ctx.old["id"])


def _brand_written(conn: Connection, brand_id: int, op: str) -> None:
    from polyvox.db.reference import load_brand_routing

    if op == "create":
        load_brand_routing(conn, brand_id)
        _assign_main_proxy_trunk(conn, brand_id)
    b = _t("Brand")
    sync_domain(conn, conn.execute(select(b.c.domainUsers).where(b.c.id == brand_id)).scalar(), brand_id, None,
                "Brand")


def _assign_main_proxy_trunk(conn: Connection, brand_id: int) -> None:
    """Spec 8.14.2: every brand has at least one proxy trunks address; a brand created without
    any gets the main one (the first entry)."""
    rel = _t("ProxyTrunksRelBrand")
    if conn.execute(select(rel.c.id).where(rel.c.brandId == brand_id).limit(1)).first() is not None:
        return
    main = conn.execute(select(func.min(_t("ProxyTrunk").c.id))).scalar()
    if main is not None:
        conn.execute(rel.insert().values(brandId=brand_id, proxyTrunkId=main))


def _company_written(conn: Connection, company_id: int, _op: str) -> None:
    c = _t("Company")
    row = conn.execute(select(c.c.domainUsers, c.c.brandId).where(c.c.id == company_id)).first()
    if row is not None:
        sync_domain(conn, row.domainUsers, row.brandId, company_id, "Company")


def sync_domain(conn: Connection, domain: str | None, brand_id: int | None, company_id: int | None,
                owner: str) -> None:
    """Keep the SIP domain table (spec 8.10) in step with brands' and clients' domains."""
    d = _t("Domain")
    owned = d.c.companyId == company_id if company_id is not None else (d.c.brandId == brand_id) & d.c.companyId.is_(None)
    current = conn.execute(select(d.c.id, d.c.domain).where(owned)).first()
    if not domain:
        if current is not None:
            conn.execute(d.delete().where(d.c.id == current.id))
        return
    other = conn.execute(select(d.c.id).where(d.c.domain == domain)).scalar()
    if other is not None and (current is None or other != current.id):
        raise invalid("domainUsers", f"SIP domain {domain} is already used by another brand or client.")
    if current is None:
        conn.execute(d.insert().values(domain=domain, pointsTo="proxyusers", brandId=brand_id, companyId=company_id,
                                       description=f"{owner} proxyusers domain"))
    elif current.domain != domain:
        conn.execute(d.update().where(d.c.id == current.id).values(domain=domain))


AFTER_WRITE.setdefault("Brand", []).append(_brand_written)
AFTER_WRITE.setdefault("Company", []).append(_company_written)


@validator("Company")
def company_platform_data(ctx: WriteContext) -> None:
    """Spec 9.1.1 "Platform data": application server and media relay sets are the global
    operator's choice; other levels get the brand's first assigned set (or the platform's)."""
    conn, brand = ctx.conn, ctx.value("brandId")
    for col, rel_name, rel_col, entity in (
            ("applicationServerSetId", "BrandsRelApplicationServerSet", "applicationServerSetId", "ApplicationServerSet"),
            ("mediaRelaySetId", "BrandsRelMediaRelaySet", "mediaRelaySetId", "MediaRelaySet")):
        if ctx.new.get(col) is not None:
            continue
        rel = _t(rel_name)
        chosen = conn.execute(select(rel.c[rel_col]).where(rel.c.brandId == brand).order_by(rel.c.id).limit(1)).scalar()
        if chosen is None:
            t = _t(entity)
            chosen = conn.execute(select(t.c.id).order_by(t.c.id).limit(1)).scalar()
        if chosen is None:
            raise invalid(col[:-2], "No set is configured on the platform; the global operator must create one first.")
        ctx.new[col] = chosen
    if ctx.new.get("distributeMethod") is None:
        ctx.new["distributeMethod"] = "hash"


@validator("Contact")
def contact_email(ctx: WriteContext) -> None:
    """Spec 004: the only required contact field is the e-mail."""
    email = ctx.value("email")
    if not email:
        raise invalid("email", "This value should not be blank: a contact needs an e-mail address.")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise invalid("email", "This value is not a valid e-mail address.")
    if ctx.value("name") is None:
        ctx.new["name"] = email.split("@")[0][:100]


@validator("Administrator")
def administrator_becomes_restricted(ctx: WriteContext) -> None:
    """Spec 19.1: turning an administrator restricted makes it a read-only API administrator."""
    if ctx.old is not None and not ctx.old.get("restricted") and ctx.value("restricted"):
        rel = _t("AdministratorRelPublicEntity")
        ctx.conn.execute(rel.delete().where(rel.c.administratorId == ctx.old["id"]))


def _administrator_written(conn: Connection, admin_id: int, _op: str) -> None:
    from polyvox.api.actions import set_privileges

    a, rel = _t("Administrator"), _t("AdministratorRelPublicEntity")
    row = conn.execute(select(a.c.restricted, a.c.brandId, a.c.companyId).where(a.c.id == admin_id)).first()
    if row is None or not row.restricted:
        return
    if conn.execute(select(rel.c.id).where(rel.c.administratorId == admin_id).limit(1)).first() is None:
        level = "client" if row.companyId is not None else "brand" if row.brandId is not None else "platform"
        set_privileges(conn, admin_id, level, (False, True, False, False))


AFTER_WRITE.setdefault("Administrator", []).append(_administrator_written)


@validator("Carrier", "DdiProvider")
def provider_proxy_trunk(ctx: WriteContext) -> None:
    """Spec 8.14.2: providers use one of the proxy trunks addresses the platform assigned to the brand."""
    trunk = ctx.value("proxyTrunkId")
    if trunk is None:
        return
    rel = _t("ProxyTrunksRelBrand")
    ok = ctx.conn.execute(select(rel.c.id).where(rel.c.brandId == ctx.value("brandId"),
                                                 rel.c.proxyTrunkId == trunk)).first()
    if ok is None:
        raise invalid("proxyTrunk", "This proxy trunks address is not assigned to the brand.")


def _user_created(conn: Connection, user_id: int, op: str) -> None:
    """Spec 10.1.11: every user starts with a voicemail of its own."""
    if op != "create":
        return
    create_user_voicemail(conn, user_id)


def create_user_voicemail(conn: Connection, user_id: int) -> None:
    u, v = _t("User"), _t("Voicemail")
    row = conn.execute(select(u.c.companyId, u.c.name, u.c.lastname, u.c.email).where(u.c.id == user_id)).first()
    if row is None or conn.execute(select(v.c.id).where(v.c.userId == user_id)).first() is not None:
        return
    name = " ".join(x for x in (row.name, row.lastname) if x)[:200] or f"user {user_id}"
    vid = conn.execute(v.insert().values(companyId=row.companyId, userId=user_id, name=name, email=row.email,
                                         enabled=True, sendMail=bool(row.email), attachSound=True)
                       ).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(u.update().where(u.c.id == user_id).values(voicemailId=vid))


AFTER_WRITE.setdefault("User", []).append(_user_created)
