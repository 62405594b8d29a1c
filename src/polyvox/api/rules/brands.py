"""Brands and their portals (spec 8.1, 8.11): IvozProvider's Brand and WebPortal
``sanitizeValues()``, the Brand lifecycle services (Domain, RoutingPattern and BrandService
UpdateByBrand, AvoidEmptyApplicationServerSets/MediaRelaySets) and the FeaturesRelBrand,
ApplicationServerSetsRelBrand and MediaRelaySetsRelBrand guards."""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, post_persist, pre_persist
from polyvox.api.rules._base import table
from polyvox.api.rules.domains import sync_domain
from polyvox.api.rules.proxies import assign_main_proxy_trunk

BILLING = "billing"
# m2m field -> (relation entity, its column of the set, set entity, client column)
SETS = {
    "applicationServerSets": ("BrandsRelApplicationServerSet", "applicationServerSetId", "ApplicationServerSet",
                              "applicationServerSetId"),
    "mediaRelaySets": ("BrandsRelMediaRelaySet", "mediaRelaySetId", "MediaRelaySet", "mediaRelaySetId"),
}


@pre_persist("WebPortal")
def portal_url(ctx: WriteContext) -> None:
    """Spec 8.11 / 9.7.1: portal URLs MUST be HTTPS and MUST NOT end with a slash."""
    url = ctx.value("url")
    if url is None:
        return
    if not url.lower().startswith("https://") or len(url) <= len("https://"):
        raise invalid("url", "Portal URLs must be HTTPS (https://...).")
    if url.endswith("/"):
        raise invalid("url", "Portal URLs must not end with a slash.")


@pre_persist("WebPortal")
def portal_owner(ctx: WriteContext) -> None:
    """WebPortal::sanitizeValues: the global operator's portal (urlType god) has no brand; the
    others belong to a brand, and a client's portal to one of the brand's clients."""
    if ctx.value("urlType") == "god":
        ctx.new["brandId"] = None
        ctx.new["companyId"] = None
        return
    if ctx.value("brandId") is None:
        raise invalid("brand", f"Brand is required in {ctx.value('urlType')} urls.")
    company = ctx.value("companyId")
    if company is not None:
        c = table("Company")
        if ctx.conn.execute(select(c.c.brandId).where(c.c.id == company)).scalar() != ctx.value("brandId"):
            raise invalid("company", "The client belongs to another brand.")


@pre_persist("Brand")
def brand_values(ctx: WriteContext) -> None:
    """Brand::setDomainUsers trims the domain (an empty one is none)."""
    domain = ctx.value("domainUsers")
    if isinstance(domain, str):
        ctx.new["domainUsers"] = domain.strip() or None


@pre_persist("Brand")
def brand_sets(ctx: WriteContext) -> None:
    """AvoidEmptyApplicationServerSets/AvoidEmptyMediaRelaySets (IvozProvider 4.x): a brand keeps
    at least one set of each kind (a brand created without any gets the platform's first);
    ApplicationServerSetsRelBrand/MediaRelaySetsRelBrand AvoidDeleteUsed: a set its clients
    use stays assigned."""
    for fname, (rel_name, rel_col, entity, client_col) in SETS.items():
        if ctx.old is None:
            if not ctx.m2m.get(fname):
                t = table(entity)
                first = ctx.conn.execute(select(t.c.id).order_by(t.c.id).limit(1)).scalar()
                if first is not None:
                    ctx.m2m[fname] = [first]
            continue
        if fname not in ctx.m2m:
            continue
        if not ctx.m2m[fname]:
            raise invalid(fname, "A brand needs at least one set: this list cannot be empty.")
        rel = table(rel_name)
        current = {r[0] for r in ctx.conn.execute(select(rel.c[rel_col]).where(rel.c.brandId == ctx.old["id"]))}
        c = table("Company")
        for removed in current - set(ctx.m2m[fname]):
            used = ctx.conn.execute(select(c.c.name).where(c.c.brandId == ctx.old["id"], c.c[client_col] == removed)
                                    .limit(1)).scalar()
            if used is not None:
                raise invalid(fname, f"{entity} #{removed} is used by client '{used}' and cannot be unassigned.")


@pre_persist("Brand")
def brand_features(ctx: WriteContext) -> None:
    """FeaturesRelBrand/AvoidBillingRemoval and AvoidFeaturesInUseRemoval: a feature its clients
    use stays enabled; billing stays while a client has a billing method."""
    if ctx.old is None or "features" not in ctx.m2m:
        return
    rel, f = table("FeaturesRelBrand"), table("Feature")
    current = {r[0] for r in ctx.conn.execute(select(rel.c.featureId).where(rel.c.brandId == ctx.old["id"]))}
    removed = current - set(ctx.m2m["features"])
    if not removed:
        return
    c, rc = table("Company"), table("FeaturesRelCompany")
    for fid in sorted(removed):
        iden = ctx.conn.execute(select(f.c.iden).where(f.c.id == fid)).scalar()
        if iden == BILLING:
            billed = ctx.conn.execute(select(c.c.name).where(c.c.brandId == ctx.old["id"],
                                                             c.c.billingMethod != "none").limit(1)).scalar()
            if billed is not None:
                raise invalid("features", "Feature can not be removed. Update all Companies billing method first "
                                          f"(client '{billed}').")
        used = ctx.conn.execute(select(c.c.name).join(rc, rc.c.companyId == c.c.id)
                                .where(c.c.brandId == ctx.old["id"], rc.c.featureId == fid).limit(1)).scalar()
        if used is not None:
            raise invalid("features", f"Cannot remove feature '{iden}': it is used by client '{used}'.")


@post_persist("Brand")
def brand_written(ctx: WriteContext) -> None:
    """A new brand gets the routing patterns and groups of spec 9.3.2-9.3.3 (RoutingPattern/
    UpdateByBrand), the main proxy trunks address (8.14.2) and one service code per service
    (BrandService/UpdateByBrand, spec 9.7.6); its SIP domain row follows ``domainUsers`` (8.10,
    Domain/UpdateByBrand)."""
    from polyvox.db.reference import load_brand_routing

    assert ctx.id is not None
    if ctx.op == "create":
        load_brand_routing(ctx.conn, ctx.id)
        assign_main_proxy_trunk(ctx.conn, ctx.id)
        s = table("Service")
        for r in ctx.conn.execute(select(s.c.id, s.c.defaultCode).order_by(s.c.id)).all():
            ctx.system.create("BrandService", brand=ctx.id, service=r.id, code=r.defaultCode or "")
    if ctx.op == "create" or ctx.changed("domainUsers") or ctx.changed("name"):
        sync_domain(ctx.conn, ctx.value("domainUsers"), ctx.id, None, ctx.value("name") or "Brand")


@pre_persist("BrandService")
def service_code(ctx: WriteContext) -> None:
    """BrandService::setCode: a service code is made of digits, '*' and '#'."""
    code = ctx.value("code")
    if code is None or not re.fullmatch(r"[#0-9*]+", str(code)):
        raise invalid("code", "A service code is made of digits, '*' and '#'.")
