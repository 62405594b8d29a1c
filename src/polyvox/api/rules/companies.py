"""Clients (spec 9.1): IvozProvider's Company ``sanitizeValues()`` and the Company,
CompanyService, FeaturesRelCompany and CompanyRelRoutingTag lifecycle services."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist
from polyvox.api.rules._base import table
from polyvox.api.rules.carriers import BILLING_FEATURE, brand_has_feature
from polyvox.api.rules.domains import sync_domain

# Service.VPBX_AVAILABLE_SERVICES: the brand services a new vPBX client inherits
VPBX_SERVICES = ("DirectPickUp", "GroupPickUp", "Voicemail", "RecordLocution", "CloseLock", "OpenLock", "ToggleLock",
                 "QueuePause", "QueueUnpause")
OPERATOR_PANEL = "operatorPanel"


@pre_persist("Company")
def company_platform_data(ctx: WriteContext) -> None:
    """Spec 9.1.1 "Platform data": application server and media relay sets are the global
    operator's choice; other levels get the brand's first assigned set (or the platform's)."""
    conn, brand = ctx.conn, ctx.value("brandId")
    for col, rel_name, rel_col, entity in (
            ("applicationServerSetId", "BrandsRelApplicationServerSet", "applicationServerSetId", "ApplicationServerSet"),
            ("mediaRelaySetId", "BrandsRelMediaRelaySet", "mediaRelaySetId", "MediaRelaySet")):
        if ctx.new.get(col) is not None:
            continue
        rel = table(rel_name)
        chosen = conn.execute(select(rel.c[rel_col]).where(rel.c.brandId == brand).order_by(rel.c.id).limit(1)).scalar()
        if chosen is None:
            t = table(entity)
            chosen = conn.execute(select(t.c.id).order_by(t.c.id).limit(1)).scalar()
        if chosen is None:
            raise invalid(col[:-2], "No set is configured on the platform; the global operator must create one first.")
        ctx.new[col] = chosen
    if ctx.new.get("distributeMethod") is None:
        ctx.new["distributeMethod"] = "hash"


@pre_persist("Company")
def company_values(ctx: WriteContext) -> None:
    """Company::sanitizeValues: the brand's locales (spec 8.1 "Locales": default timezone,
    language and currency of the brand's clients), a vPBX client's own SIP domain, on-demand
    recording for vPBX and residential clients only, corporations of vPBX clients only; and
    the country's generic numeric transformation when none is chosen (spec 9.7.3: every client
    has one)."""
    conn, new = ctx.conn, ctx.new
    b = table("Brand")
    brand = conn.execute(select(b).where(b.c.id == new.get("brandId"))).first()
    if brand is None:
        raise invalid("brand", "This value should not be blank.")
    for col in ("defaultTimezoneId", "languageId", "currencyId"):
        if new.get(col) is None:
            new[col] = brand._mapping[col]
    kind = new.get("type") or "vpbx"
    new["type"] = kind
    domain = new.get("domainUsers")
    if isinstance(domain, str):
        domain = domain.strip() or None
        new["domainUsers"] = domain
    if kind == "vpbx" and not domain:
        raise invalid("domainUsers", "Domain can't be empty: a vPBX client needs its SIP domain.")
    if new.get("countryId") is None:
        raise invalid("country", "This value should not be blank.")
    if new.get("transformationRuleSetId") is None:
        new["transformationRuleSetId"] = _country_rule_set(ctx, new["countryId"])
    if new.get("ipfilter") is None:
        new["ipfilter"] = False
    if new.get("onDemandRecord") is None:
        new["onDemandRecord"] = 0
    code = new.get("onDemandRecordCode")
    if code and not re.fullmatch(r"[0-9]+", code):
        raise invalid("onDemandRecordCode", "The on-demand record code is digits only.")
    if new.get("onDemandRecord") and kind not in ("vpbx", "residential"):
        raise invalid("onDemandRecord", "On demand record is only allowed on vpbx and residential clients.")
    corporation = new.get("corporationId")
    if corporation is not None:
        if kind != "vpbx":
            raise invalid("corporation", "Only vpbx clients can be part of a corporation.")
        c = table("Corporation")
        if conn.execute(select(c.c.brandId).where(c.c.id == corporation)).scalar() != new["brandId"]:
            raise invalid("corporation", "The corporation belongs to another brand.")


def _country_rule_set(ctx: WriteContext, country: int) -> int | None:
    t = table("TransformationRuleSet")
    q = select(t.c.id).where(t.c.countryId == country).order_by(t.c.brandId.is_(None).desc(), t.c.id)
    q = q.where((t.c.brandId.is_(None)) | (t.c.brandId == ctx.new.get("brandId")))
    found: int | None = ctx.conn.execute(q.limit(1)).scalar()
    return found


@pre_persist("Company")
def company_billing_method(ctx: WriteContext) -> None:
    """IvozProvider Company/SanitizeBillingMethod: without the brand's billing feature a client
    has no billing method."""
    if (ctx.value("billingMethod") or "none") != "none" and \
            not brand_has_feature(ctx.conn, ctx.value("brandId"), BILLING_FEATURE):
        ctx.new["billingMethod"] = "none"


@pre_persist("Company")
def company_features(ctx: WriteContext) -> None:
    """FeaturesRelCompany/CheckValidity: the operator panel is for vPBX clients only; a client
    only gets features its brand has (spec 9.1 "Features")."""
    ids = ctx.m2m.get("featureIds")
    if ids is None:
        if ctx.old is None or not ctx.changed("type"):
            return
        rel = table("FeaturesRelCompany")
        ids = [r[0] for r in ctx.conn.execute(select(rel.c.featureId).where(rel.c.companyId == ctx.old["id"]))]
    if not ids:
        return
    f, rb = table("Feature"), table("FeaturesRelBrand")
    idens = {r.id: r.iden for r in ctx.conn.execute(select(f.c.id, f.c.iden).where(f.c.id.in_(ids)))}
    if OPERATOR_PANEL in idens.values() and ctx.value("type") != "vpbx":
        raise invalid("featureIds", "Operator panel feature can only be assigned to vPBX clients.")
    brand = {r[0] for r in ctx.conn.execute(select(rb.c.featureId).where(rb.c.brandId == ctx.value("brandId")))}
    missing = sorted(idens[i] for i in idens if i not in brand)
    if missing:
        raise invalid("featureIds", f"Features not enabled for the brand: {', '.join(missing)}.")


@post_persist("Company")
def company_domain(ctx: WriteContext) -> None:
    """A vPBX client's SIP domain row follows its ``domainUsers`` (IvozProvider
    Domain/UpdateByCompany); other client types use their brand's domain."""
    assert ctx.id is not None
    if ctx.value("type") == "vpbx":
        if ctx.op == "create" or ctx.changed("domainUsers") or ctx.changed("name"):
            sync_domain(ctx.conn, ctx.value("domainUsers"), ctx.value("brandId"), ctx.id, ctx.value("name") or "Company")
    elif ctx.old is not None and ctx.old.get("type") == "vpbx":
        sync_domain(ctx.conn, None, ctx.value("brandId"), ctx.id, "")


@post_persist("Company")
def company_services(ctx: WriteContext) -> None:
    """IvozProvider CompanyService/PropagateBrandServices: a new vPBX client starts with its
    brand's service codes (the vPBX services only)."""
    if ctx.op != "create" or ctx.value("type") != "vpbx":
        return
    bs, s = table("BrandService"), table("Service")
    rows = ctx.conn.execute(select(bs.c.serviceId, bs.c.code).join(s, s.c.id == bs.c.serviceId)
                            .where(bs.c.brandId == ctx.value("brandId"), s.c.iden.in_(VPBX_SERVICES))
                            .order_by(bs.c.id)).all()
    done: set[int] = set()
    for r in rows:
        if r.serviceId not in done:  # one code per service: the brand's first
            done.add(r.serviceId)
            ctx.system.create("CompanyService", company=ctx.id, service=r.serviceId, code=r.code)
