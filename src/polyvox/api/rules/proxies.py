"""Proxy trunks addresses of brands, carriers and DDI providers (spec 8.14.2)."""

from __future__ import annotations

import ipaddress

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError, invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import table


@pre_persist("ProxyTrunksRelBrand")
def proxy_trunk_unassign(ctx: WriteContext) -> None:
    if ctx.old is None:
        return
    if ctx.old.get("proxyTrunkId") != ctx.value("proxyTrunkId") or ctx.old.get("brandId") != ctx.value("brandId"):
        _proxy_trunk_in_use(ctx.conn, ctx.old["proxyTrunkId"], ctx.old["brandId"])


def _proxy_trunk_in_use(conn: Connection, trunk: int, brand: int | None) -> None:
    for ent in ("Carrier", "DdiProvider"):
        t = table(ent)
        q = select(t.c.name).where(t.c.proxyTrunkId == trunk)
        if brand is not None:
            q = q.where(t.c.brandId == brand)
        used = conn.execute(q.limit(1)).scalar()
        if used is not None:
            raise ApiError(400, f"This proxy trunks address is in use by {ent} '{used}' and cannot be "
                                "unassigned or deleted.", field="proxyTrunk")


@pre_remove("ProxyTrunksRelBrand")
def proxy_trunk_unassign_unused(ctx: WriteContext) -> None:
    _proxy_trunk_in_use(ctx.conn, ctx.new["proxyTrunkId"], ctx.new["brandId"])


@pre_remove("ProxyTrunksRelBrand")
def brand_keeps_a_proxy_trunk(ctx: WriteContext) -> None:
    """Spec 8.14.2: each brand keeps at least one proxy trunks address."""
    rel, row = table("ProxyTrunksRelBrand"), ctx.new
    left = ctx.conn.execute(select(func.count()).select_from(rel).where(rel.c.brandId == row["brandId"],
                                                                         rel.c.id != row["id"])).scalar()
    if not left:
        raise ApiError(400, "A brand needs at least one proxy trunks address.", field="proxyTrunk")


@pre_remove("ProxyTrunk")
def proxy_trunk_delete_unused(ctx: WriteContext) -> None:
    _proxy_trunk_in_use(ctx.conn, ctx.new["id"], None)


@pre_persist("ProxyTrunk")
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


@pre_remove("ProxyTrunk")
def main_proxy_trunk_kept(ctx: WriteContext) -> None:
    """Spec 8.14.2: the main proxy trunks address (the first entry) cannot be removed."""
    first = ctx.conn.execute(select(func.min(table("ProxyTrunk").c.id))).scalar()
    if ctx.new["id"] == first:
        raise ApiError(400, "The main proxy trunks address cannot be deleted.", field="ip")


@pre_persist("Brand")
def brand_proxy_trunks(ctx: WriteContext) -> None:
    """Spec 8.14.2: an address assigned to the brand's carriers or DDI providers stays assigned."""
    if ctx.old is None or "proxyTrunks" not in ctx.m2m:
        return
    rel = table("ProxyTrunksRelBrand")
    current = {r[0] for r in ctx.conn.execute(select(rel.c.proxyTrunkId).where(rel.c.brandId == ctx.old["id"]))}
    if current and not ctx.m2m["proxyTrunks"]:
        raise invalid("proxyTrunks", "A brand needs at least one proxy trunks address.")
    for removed in current - set(ctx.m2m["proxyTrunks"]):
        _proxy_trunk_in_use(ctx.conn, removed, ctx.old["id"])


def assign_main_proxy_trunk(conn: Connection, brand_id: int) -> None:
    """Spec 8.14.2: every brand has at least one proxy trunks address; a brand created without
    any gets the main one (the first entry)."""
    rel = table("ProxyTrunksRelBrand")
    if conn.execute(select(rel.c.id).where(rel.c.brandId == brand_id).limit(1)).first() is not None:
        return
    main = conn.execute(select(func.min(table("ProxyTrunk").c.id))).scalar()
    if main is not None:
        conn.execute(rel.insert().values(brandId=brand_id, proxyTrunkId=main))


@pre_persist("Carrier", "DdiProvider")
def provider_proxy_trunk(ctx: WriteContext) -> None:
    """Spec 8.14.2: providers use one of the proxy trunks addresses the platform assigned to the brand."""
    trunk = ctx.value("proxyTrunkId")
    if trunk is None:
        return
    rel = table("ProxyTrunksRelBrand")
    ok = ctx.conn.execute(select(rel.c.id).where(rel.c.brandId == ctx.value("brandId"),
                                                 rel.c.proxyTrunkId == trunk)).first()
    if ok is None:
        raise invalid("proxyTrunk", "This proxy trunks address is not assigned to the brand.")


