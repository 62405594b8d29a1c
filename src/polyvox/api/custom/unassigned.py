"""Selection helpers of the portals: what can still be assigned (IvozProvider ``*/unassigned``,
``users_available``) and the detailed users list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import (
    Add,
    array_of,
    collection,
    ok,
    plain,
    query_int,
    resource,
    route,
    scoped,
    view,
)
from polyvox.api.engine import check_privilege
from polyvox.api.errors import ApiError
from polyvox.db.model import ENTITY

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

INCLUDE = {"name": "_includeId", "description": "Ensure certain id is included", "schema": {"type": "integer"}}
# What a client sees of the other clients of its corporation (no balances, billing data or secrets).
SIBLING_FIELDS = ("type", "name", "domainUsers", "language", "defaultTimezone", "country")


def _t(name: str) -> Any:
    return ENTITY[name].table


def register(api: LevelApi, add: Add) -> None:
    level = api.level
    if level in ("brand", "client"):
        _services(api, add)
        _corporate(api, add)
    if level == "client":
        _extensions(api, add)
        _terminals(api, add)
        _users_detailed(api, add)
        _users_available(api, add)


def _services(api: LevelApi, add: Add) -> None:
    res = resource(api, "Service")

    def handler(request: Request) -> Response:
        p = api.principal(request)
        include = query_int(request, "_includeId")
        svc, bs, cs = _t("Service"), _t("BrandService"), _t("CompanyService")

        def build(_c: Connection) -> Select[Any]:
            sel = scoped(api, "Service", p)
            if p.level == "brand":
                used = select(bs.c.serviceId).where(bs.c.brandId == p.brand_id)
            else:
                # a client chooses among the services its brand offers (spec 9.7.6, 10.1.10)
                offered = select(bs.c.serviceId).where(bs.c.brandId == p.brand_id)
                sel = sel.where(svc.c.id.in_(offered))
                used = select(cs.c.serviceId).where(cs.c.companyId == p.company_id)
            keep = svc.c.id.not_in(used)
            if include is not None:
                keep = or_(keep, svc.c.id == include)
            return sel.where(keep)

        return collection(api, request, res, p, build, plain(res))

    route(api, add, "get", "/services/unassigned", handler,
          "Services without a brand (or client) specific code yet", params=[INCLUDE],
          responses=ok("Service collection", array_of({"$ref": "#/components/schemas/Service"}), errors=()))


def _corporate(api: LevelApi, add: Add) -> None:
    res = resource(api, "Company")
    fields = plain(res) if api.level == "brand" else SIBLING_FIELDS
    out_res = view(res, fields)

    def handler(request: Request) -> Response:
        p = api.principal(request)
        include = query_int(request, "_includeId")
        company_id = query_int(request, "_companyId") if p.level == "brand" else p.company_id
        co, fr = _t("Company"), _t("Friend")

        def build(c: Connection) -> Select[Any]:
            if company_id is None:
                # brand without _companyId: the brand's clients not in any corporation yet
                free = co.c.corporationId.is_(None)
                return scoped(api, "Company", p).where(or_(free, co.c.id == include) if include is not None else free)
            if p.level == "brand":
                me = api.engine.fetch(c, res, p, company_id)
            else:
                me = c.execute(select(co).where(co.c.id == company_id)).first()
            if me.corporationId is None:
                if p.level == "brand":
                    raise ApiError(400, "Selected company does not belong to a corporation", field="_companyId")
                return select(co).where(false())
            # clients of the same corporation not yet linked to this one by an inter-vPBX friend
            linked = select(fr.c.interCompanyId).where(fr.c.companyId == me.id, fr.c.interCompanyId.is_not(None))
            keep = and_(co.c.id != me.id, co.c.id.not_in(linked))
            if include is not None:
                keep = or_(keep, co.c.id == include)
            return select(co).where(co.c.corporationId == me.corporationId, co.c.brandId == me.brandId, keep)

        return collection(api, request, out_res, p, build, fields, privilege=res)

    params = [INCLUDE]
    if api.level == "brand":
        params.append({"name": "_companyId", "description": "Client whose corporation partners are listed; "
                       "without it, the brand's clients not in any corporation", "schema": {"type": "integer"}})
    route(api, add, "get", "/companies/corporate/unassigned", handler,
          "Clients of the same corporation not yet linked by an inter-vPBX friend", params=params,
          responses=ok("Company collection", array_of({"$ref": "#/components/schemas/Company"}), errors=("400",)))


def _extensions(api: LevelApi, add: Add) -> None:
    res = resource(api, "Extension")

    def handler(request: Request) -> Response:
        p = api.principal(request)
        include = query_int(request, "_includeId")
        user_id = query_int(request, "_userId")
        ext = _t("Extension")

        def build(_c: Connection) -> Select[Any]:
            keep = [ext.c.routeType.is_(None)]
            if include is not None:
                keep.append(ext.c.id == include)
            if user_id is not None:
                keep.append(and_(ext.c.routeType == "user", ext.c.userId == user_id))
            return scoped(api, "Extension", p).where(or_(*keep))

        return collection(api, request, res, p, build, plain(res))

    route(api, add, "get", "/extensions/unassigned", handler, "Extensions without a route (free to assign)",
          params=[INCLUDE, {"name": "_userId", "description": "Also list the extensions routed to this user",
                            "schema": {"type": "integer"}}],
          responses=ok("Extension collection", array_of({"$ref": "#/components/schemas/Extension"}), errors=()))


def _terminals(api: LevelApi, add: Add) -> None:
    res = resource(api, "Terminal")

    def handler(request: Request) -> Response:
        p = api.principal(request)
        include = query_int(request, "_includeId")
        term, usr = _t("Terminal"), _t("User")

        def build(_c: Connection) -> Select[Any]:
            used = select(usr.c.terminalId).where(usr.c.companyId == p.company_id, usr.c.terminalId.is_not(None))
            keep = term.c.id.not_in(used)
            if include is not None:
                keep = or_(keep, term.c.id == include)
            return scoped(api, "Terminal", p).where(keep)

        return collection(api, request, res, p, build, plain(res))

    route(api, add, "get", "/terminals/unassigned", handler, "Terminals not used by any user", params=[INCLUDE],
          responses=ok("Terminal collection", array_of({"$ref": "#/components/schemas/Terminal"}), errors=()))


def _users_detailed(api: LevelApi, add: Add) -> None:
    res = resource(api, "User")

    def handler(request: Request) -> Response:
        p = api.principal(request)
        return collection(api, request, res, p, lambda _c: scoped(api, "User", p), res.item, expand=True)

    route(api, add, "get", "/users/detailed", handler, "Users with their detailed representation",
          responses=ok("User collection", array_of({"$ref": "#/components/schemas/User-detailed"}), errors=()))


def _users_available(api: LevelApi, add: Add) -> None:
    res = resource(api, "User")
    hg_res = resource(api, "HuntGroup")

    def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)
        include = query_int(request, "_includeId")
        usr, member = _t("User"), _t("HuntGroupMember")

        def build(c: Connection) -> Select[Any]:
            check_privilege(c, p, hg_res, "get")
            hg = api.engine.fetch(c, hg_res, p, ident)
            members = select(member.c.userId).where(member.c.huntGroupId == hg.id, member.c.userId.is_not(None))
            keep = usr.c.id.not_in(members)
            if include is not None:
                keep = or_(keep, usr.c.id == include)
            return scoped(api, "User", p).where(keep)

        return collection(api, request, res, p, build, plain(res))

    route(api, add, "get", "/hunt_groups/{ident}/users_available", handler,
          "Users of the client that are not members of this hunt group yet", params=[INCLUDE],
          responses=ok("User collection", array_of({"$ref": "#/components/schemas/User"}), errors=("404",)))
