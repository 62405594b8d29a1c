"""Registration status of SIP endpoints (IvozProvider ``*/status``, ``/my/registration_summary``)
and the computed ``status`` field of Terminal, User, RetailAccount and ResidentialDevice items.

Read from ``kam_users_location`` (:mod:`polyvox.db.location`), written by proxy-users after every
REGISTER. An endpoint's AoR is ``name@domain``: terminals and friends in their client's SIP
domain, retail accounts and residential devices in their brand's domain (docs/sip.md §9).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import Add, array_of, collection, ok, resource, route, scoped, view
from polyvox.api.engine import COMPUTED, check_privilege
from polyvox.db.location import location
from polyvox.db.model import ENTITY
from polyvox.platform.clock import utcnow

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

# entity -> (collection path, extra fields of its -status representation)
KINDS = {
    "Terminal": ("terminals", ()),
    "Friend": ("friends", ()),
    "RetailAccount": ("retail_accounts", ("directConnectivity", "description")),
    "ResidentialDevice": ("residential_devices", ("directConnectivity",)),
}
STATUS_ITEM = {"type": "object", "properties": {
    "contact": {"type": "string"}, "publicContact": {"type": "boolean"}, "received": {"type": "string"},
    "publicReceived": {"type": "boolean"}, "expires": {"type": "string"}, "userAgent": {"type": "string"}}}


def _t(name: str) -> Any:
    return ENTITY[name].table


def _is_public(uri: str | None) -> bool:
    if not uri:
        return False
    host = uri.split("@", 1)[-1].split(";", 1)[0]
    if host.startswith("sip:"):
        host = host[4:]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 \
        else host
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a host name: resolvable from outside


def domain_of(conn: Connection, entity: str, row: Any) -> str | None:
    """The SIP domain an endpoint registers in."""
    d, c = _t("Domain"), _t("Company")
    if entity == "Terminal" and row.domainId is not None:
        name = conn.execute(select(d.c.domain).where(d.c.id == row.domainId)).scalar()
        if name:
            return str(name)
    if entity in ("Terminal", "Friend"):
        return conn.execute(select(d.c.domain).where(d.c.companyId == row.companyId, d.c.pointsTo == "proxyusers")
                            .order_by(d.c.id).limit(1)).scalar()
    brand = conn.execute(select(c.c.brandId).where(c.c.id == row.companyId)).scalar()
    return conn.execute(select(d.c.domain).where(d.c.brandId == brand, d.c.companyId.is_(None),
                                                 d.c.pointsTo == "proxyusers").order_by(d.c.id).limit(1)).scalar()


def registrations(conn: Connection, username: str | None, domain: str | None) -> list[dict[str, Any]]:
    """Live contacts of ``username@domain`` (RegistrationStatus items)."""
    if not username or not domain:
        return []
    try:
        rows = conn.execute(select(location).where(location.c.username == username,
                                                   func.lower(location.c.domain) == domain.lower(),
                                                   location.c.expires > utcnow()).order_by(location.c.id)).all()
    except Exception:  # table not created yet (no proxy ever ran)
        return []
    out = []
    for r in rows:
        received = r.received or ""
        out.append({"contact": r.contact, "publicContact": _is_public(r.contact), "received": received,
                    "publicReceived": _is_public(received) if received else _is_public(r.contact),
                    "expires": r.expires.strftime("%Y-%m-%d %H:%M:%S"), "userAgent": r.user_agent or ""})
    return out


def endpoint_status(conn: Connection, entity: str, row: Any) -> list[dict[str, Any]]:
    return registrations(conn, row.name, domain_of(conn, entity, row))


def user_status(conn: Connection, row: Any) -> list[dict[str, Any]]:
    if row.terminalId is None:
        return []
    te = _t("Terminal")
    term = conn.execute(select(te).where(te.c.id == row.terminalId)).first()
    return endpoint_status(conn, "Terminal", term) if term is not None else []


for _entity in KINDS:
    COMPUTED[(_entity, "status")] = (lambda e: lambda conn, row: endpoint_status(conn, e, row))(_entity)
COMPUTED[("User", "status")] = user_status


def register(api: LevelApi, add: Add) -> None:
    level = api.level
    if level not in ("brand", "client"):
        return
    for entity, (path, extra) in KINDS.items():
        _status_routes(api, add, entity, path, extra, with_item=level == "client")
    if level == "brand":
        _summary(api, add)
        _trunk_status_routes(api, add)


def _status_routes(api: LevelApi, add: Add, entity: str, path: str, extra: tuple[str, ...], with_item: bool) -> None:
    res = resource(api, entity)
    fields = tuple(f for f in ("name", *extra) if res.fdef(f) is not None) or ("name",)
    out = view(res, fields)

    def decorate(c: Connection, row: Any, item: dict[str, Any]) -> dict[str, Any]:
        domain = domain_of(c, entity, row)
        item["domainName"] = domain or ""
        item["status"] = registrations(c, row.name, domain)
        return item

    def listing(request: Request) -> Response:
        p = api.principal(request)
        return collection(api, request, out, p, lambda _c: scoped(api, entity, p), fields, privilege=res,
                          after=decorate)

    schema = {"$ref": f"#/components/schemas/{entity}"}
    route(api, add, "get", f"/{path}/status", listing, f"{entity} registration status",
          responses=ok(f"{entity} collection", array_of(schema), errors=()))
    if not with_item:
        return

    def one(ident: str, request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "read")
            row = api.engine.fetch(c, res, p, ident)
            return decorate(c, row, api.engine.row_to_dict(c, out, row, fields))

        return JSONResponse(api.run(do))

    route(api, add, "get", f"/{path}/{{ident}}/status", one, f"{entity} registration status",
          responses=ok(f"{entity} resource", schema, errors=("404",)))


def _summary(api: LevelApi, add: Add) -> None:
    def handler(request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, int]:
            total = active = 0
            for entity in KINDS:
                t = _t(entity)
                sel: Select[Any] = scoped(api, entity, p)
                if "directConnectivity" in t.c:
                    sel = sel.where((t.c.directConnectivity != "yes") | t.c.directConnectivity.is_(None))
                for row in c.execute(sel).all():
                    total += 1
                    if endpoint_status(c, entity, row):
                        active += 1
            return {"active": active, "total": total, "percent": round(active * 100 / total) if total else 0}

        return JSONResponse(api.run(do))

    route(api, add, "get", "/my/registration_summary", handler, "Registered endpoints of the brand",
          responses=ok("RegistrationSummary", {"type": "object", "properties": {
              "active": {"type": "integer"}, "total": {"type": "integer"}, "percent": {"type": "integer"}}},
              errors=()))


# ----------------------------------------------------------------------------- trunks agent
# ``/carrier_servers/{id}/status`` and ``/ddi_provider_registrations/{id}/status`` (brand level),
# read from the tables the trunks agent writes (polyvox.sip.agent, docs/sip-agent.md).
TRUNK_KINDS = {
    "CarrierServer": ("carrier_servers", ("id", "ip", "hostname", "sipProxy", "authNeeded"),
                      {"registered": {"type": "boolean"}}),
    "DdiProviderRegistration": ("ddi_provider_registrations", ("id", "username", "domain"),
                                {"registered": {"type": "boolean"}, "inProgress": {"type": "boolean"},
                                 "expires": {"type": "integer"}}),
}


def carrier_server_status(conn: Connection, server_id: int) -> dict[str, Any]:
    """``{"registered": bool}``: False only when the last OPTIONS ping got no valid reply (a server
    not pinged yet counts as active, as proxy-trunks uses it)."""
    from polyvox.db.agent_state import carrier_server_status as t

    try:
        active = conn.execute(select(t.c.active).where(t.c.carrierServerId == server_id)).scalar()
    except Exception:  # table not created yet (the agent never ran)
        return {"registered": True}
    return {"registered": active is None or bool(active)}


def ddi_registration_status(conn: Connection, reg_id: int) -> dict[str, Any]:
    """``{"registered", "inProgress", "expires"}``; expires = seconds left of the granted binding."""
    from polyvox.db.agent_state import ddi_provider_registration_status as t

    try:
        row = conn.execute(select(t).where(t.c.ddiProviderRegistrationId == reg_id)).first()
    except Exception:  # table not created yet
        row = None
    if row is None:
        return {"registered": False, "inProgress": False, "expires": 0}
    left = 0
    if row.expiresAt is not None:
        left = max(0, int((row.expiresAt - utcnow()).total_seconds()))
    return {"registered": bool(row.registered) and left > 0, "inProgress": bool(row.inProgress), "expires": left}


def _trunk_status_routes(api: LevelApi, add: Add) -> None:
    for entity, (path, fields, status_props) in TRUNK_KINDS.items():
        _trunk_status_route(api, add, entity, path, fields, status_props)


def _trunk_status_route(api: LevelApi, add: Add, entity: str, path: str, fields: tuple[str, ...],
                        status_props: dict[str, Any]) -> None:
    res = resource(api, entity)
    shown = tuple(f for f in fields if f == "id" or res.fdef(f) is not None)
    out = view(res, shown)
    reader = carrier_server_status if entity == "CarrierServer" else ddi_registration_status

    def one(ident: str, request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "read")
            row = api.engine.fetch(c, res, p, ident)
            item = api.engine.row_to_dict(c, out, row, shown)
            item["id"] = row.id
            item["status"] = reader(c, int(row.id))
            return item

        return JSONResponse(api.run(do))

    schema = {"type": "object", "properties": {
        **{f: {"type": "integer" if f == "id" else "string"} for f in shown},
        "status": {"type": "object", "properties": status_props}}}
    route(api, add, "get", f"/{path}/{{ident}}/status", one, f"{entity} status",
          responses=ok(f"{entity} resource", schema, errors=("404",)))
