"""Outgoing routing, routing patterns and pattern groups (spec 9.3.1-9.3.3).

IvozProvider's OutgoingRouting, RoutingPattern, RoutingPatternGroup ``sanitizeValues()``
and setters, the RoutingPatternGroupsRelPattern AvoidUpdates service and the ``on-delete``
cascades of its schema (a route goes with its carrier, pattern or group). What proxy-trunks
needs to route a call (polyvox.sip.trunks_repository.routes, polyvox.domain.routing
.validate_route) is demanded at write time: a pattern route has its pattern, a group route a
group with patterns, a static route its carrier, an LCR route at least one carrier.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist, pre_remove
from polyvox.api.rules._base import E164_PREFIX, table

ROUTE_PREFIX = re.compile(r"[0-9*#+]{1,25}", re.ASCII)


def _carriers(ctx: WriteContext) -> list[int]:
    if "carrierIds" in ctx.m2m:
        return ctx.m2m["carrierIds"]
    if ctx.old is None:
        return []
    rel = table("OutgoingRoutingRelCarrier")
    return [r[0] for r in ctx.conn.execute(select(rel.c.carrierId).where(rel.c.outgoingRoutingId == ctx.old["id"]))
            if r[0] is not None]


@pre_persist("OutgoingRouting")
def outgoing_routing_values(ctx: WriteContext) -> None:
    """OutgoingRouting::sanitizeValues and setWeight, plus what the call path needs."""
    new, conn = ctx.new, ctx.conn
    kind = new.get("type") or "group"
    new["type"] = kind
    if kind == "group":
        new["routingPatternId"] = None
        group = new.get("routingPatternGroupId")
        if group is None:
            raise invalid("routingPatternGroup", "A route of type group needs a routing pattern group.")
        rel = table("RoutingPatternGroupsRelPattern")
        if conn.execute(select(rel.c.id).where(rel.c.routingPatternGroupId == group).limit(1)).first() is None:
            raise invalid("routingPatternGroup", "The routing pattern group has no routing patterns.")
    elif kind == "pattern":
        new["routingPatternGroupId"] = None
        if new.get("routingPatternId") is None:
            raise invalid("routingPattern", "A route of type pattern needs a routing pattern.")
    elif kind == "fax":
        new["routingPatternId"] = None
        new["routingPatternGroupId"] = None
    else:
        raise invalid("type", "Incorrect outgoing routing type (pattern, group or fax).")
    mode = new.get("routingMode") or "static"
    new["routingMode"] = mode
    if mode == "static":
        ctx.m2m["carrierIds"] = []
        if new.get("carrierId") is None:
            raise invalid("carrier", "A static route needs a carrier.")
    elif mode == "lcr":
        new["carrierId"] = None
        if not _carriers(ctx):
            raise invalid("carrierIds", "An LCR route needs at least one carrier.")
    elif mode == "block":
        new["carrierId"] = None
        ctx.m2m["carrierIds"] = []
        new["stopper"] = True
    else:
        raise invalid("routingMode", "Incorrect outgoing routing mode (static, lcr or block).")
    weight = new.get("weight")
    if weight is None:
        new["weight"] = weight = 1
    if not 1 <= int(weight) <= 20:
        raise invalid("weight", "The weight is between 1 and 20.")
    if new.get("priority") is None:
        raise invalid("priority", "This value should not be blank.")
    if not new.get("forceClid"):
        new["clid"] = None
        new["clidCountryId"] = None
    elif not new.get("clid"):
        raise invalid("clid", "Forcing the caller id needs a number.")
    elif new.get("clidCountryId") is None:
        raise invalid("clidCountry", "Forcing the caller id needs the number's country.")
    prefix = new.get("prefix")
    if prefix == "":
        new["prefix"] = None
    elif prefix is not None and not ROUTE_PREFIX.fullmatch(prefix):
        raise invalid("prefix", "The route prefix may only contain digits, '*', '#' and '+' (max 25).")
    brand = new.get("brandId")
    for col, entity in (("carrierId", "Carrier"), ("routingPatternId", "RoutingPattern"),
                        ("routingPatternGroupId", "RoutingPatternGroup"), ("routingTagId", "RoutingTag"),
                        ("companyId", "Company")):
        _same_brand(ctx, col, entity, brand)
    c = table("Carrier")
    for cid in ctx.m2m.get("carrierIds", []):
        if conn.execute(select(c.c.brandId).where(c.c.id == cid)).scalar() != brand:
            raise invalid("carrierIds", f"Carrier #{cid} belongs to another brand.")


def _same_brand(ctx: WriteContext, col: str, entity: str, brand: int | None) -> None:
    ident = ctx.new.get(col)
    if ident is None or brand is None:
        return
    t = table(entity)
    if ctx.conn.execute(select(t.c.brandId).where(t.c.id == ident)).scalar() != brand:
        raise invalid(col[:-2], f"{entity} #{ident} belongs to another brand.")


def _delete_routes(ctx: WriteContext, column: str) -> None:
    o = table("OutgoingRouting")
    for rid in [r[0] for r in ctx.conn.execute(select(o.c.id).where(o.c[column] == ctx.new["id"]))]:
        ctx.system.delete("OutgoingRouting", rid)


@pre_remove("Carrier")
def carrier_routes_go(ctx: WriteContext) -> None:
    """IvozProvider's schema: an outgoing route goes with its (static) carrier; the carrier
    leaves the LCR routes it is part of; its rating profiles go."""
    _delete_routes(ctx, "carrierId")
    rel = table("OutgoingRoutingRelCarrier")
    ctx.conn.execute(rel.delete().where(rel.c.carrierId == ctx.new["id"]))
    # and its rating profiles (RatingProfile.carrier is on-delete CASCADE there)
    rp = table("RatingProfile")
    for pid in [r[0] for r in ctx.conn.execute(select(rp.c.id).where(rp.c.carrierId == ctx.new["id"]))]:
        ctx.system.delete("RatingProfile", pid)


@pre_remove("RoutingPattern")
def pattern_routes_go(ctx: WriteContext) -> None:
    """IvozProvider's schema: an outgoing route goes with its routing pattern; the pattern
    leaves its groups."""
    _delete_routes(ctx, "routingPatternId")
    rel = table("RoutingPatternGroupsRelPattern")
    ctx.conn.execute(rel.delete().where(rel.c.routingPatternId == ctx.new["id"]))


@pre_remove("RoutingPatternGroup")
def group_routes_go(ctx: WriteContext) -> None:
    """IvozProvider's schema: an outgoing route goes with its routing pattern group."""
    _delete_routes(ctx, "routingPatternGroupId")
    rel = table("RoutingPatternGroupsRelPattern")
    ctx.conn.execute(rel.delete().where(rel.c.routingPatternGroupId == ctx.new["id"]))


@pre_remove("OutgoingRouting")
def route_carriers_go(ctx: WriteContext) -> None:
    rel = table("OutgoingRoutingRelCarrier")
    ctx.conn.execute(rel.delete().where(rel.c.outgoingRoutingId == ctx.new["id"]))


@pre_persist("RoutingPattern")
def routing_pattern_prefix(ctx: WriteContext) -> None:
    """RoutingPattern::setPrefix: a prefix in E.164, '+' and digits."""
    prefix = ctx.value("prefix")
    if prefix is None or not E164_PREFIX.fullmatch(prefix):
        raise invalid("prefix", "A routing pattern prefix is '+' followed by digits (E.164), e.g. '+34'.")


@pre_persist("RoutingPatternGroup")
def routing_pattern_group_name(ctx: WriteContext) -> None:
    """RoutingPatternGroup::setName: the name is trimmed and not empty."""
    name = (ctx.value("name") or "").strip()
    if not name:
        raise invalid("name", "This value should not be blank.")
    ctx.new["name"] = name


@pre_persist("RoutingPatternGroup")
def routing_pattern_group_members(ctx: WriteContext) -> None:
    """The patterns of a group are the brand's own."""
    ids = ctx.m2m.get("patternIds")
    if not ids:
        if ids is not None and ctx.old is not None and _used_by_group_route(ctx, ctx.old["id"]):
            raise invalid("patternIds", "A routing pattern group used by outgoing routes keeps at least one pattern.")
        return
    p = table("RoutingPattern")
    for pid in ids:
        if ctx.conn.execute(select(p.c.brandId).where(p.c.id == pid)).scalar() != ctx.value("brandId"):
            raise invalid("patternIds", f"RoutingPattern #{pid} belongs to another brand.")


def _used_by_group_route(ctx: WriteContext, group: int) -> bool:
    o = table("OutgoingRouting")
    return ctx.conn.execute(select(o.c.id).where(o.c.routingPatternGroupId == group, o.c.type == "group")
                            .limit(1)).first() is not None
