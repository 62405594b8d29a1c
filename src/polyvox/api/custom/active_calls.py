"""Active calls (IvozProvider ``/my/active_calls`` and ``/my/active_calls/realtime_filter`` at
platform, brand and client levels; spec 8.12, 9.6.1, 10.1.14).

Two live sources, merged (docs/appserver.md, "Active calls"):

* the application servers' entries (table ``appserver_active_calls``, :mod:`polyvox.db.appserver_state`):
  every vPBX / residential call, internal or external, one entry per entity involved (user,
  friend, residential device), with its owner and party;
* proxy-trunks' dialogs (:mod:`polyvox.platform.control`): every external call, one item per dialog.
  A dialog whose Call-ID is one of the proxy-trunks legs of an application server call that has
  entries visible here is dropped: that call is already counted, once per entity involved. The
  others (retail and wholesale calls, which never reach an application server, and external
  calls of a vPBX that involve no entity, e.g. a DDI forwarded to an external number) stay,
  one item each; their owner is the dialog's endpoint (retail account) or the wholesale client.

Scoping: a client sees its own calls, a brand its clients' calls (``company`` narrows), the
platform every call (``brand`` narrows). Calls to special numbers with *Disable CDR* are never
listed (8.9.1). The contract's answer is the counters ``{inbound, outbound, total}``;
``_details=1`` (Polyvox extension) adds ``calls``: one item per entry (source appserver|trunks,
direction, state trying|early|confirmed, owner type/id/name, party, start and answer times;
proxy-trunks items also caller, callee, carrier / DDI provider). When proxy-trunks cannot be asked
the answer is 503 (not the application servers' entries alone: external retail/wholesale calls
would silently be missing from the counters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from polyvox.api.auth import Principal
from polyvox.api.custom.common import Add, ok, query_int, route
from polyvox.api.engine import as_int
from polyvox.api.errors import ApiError

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

COUNTERS = {"type": "object", "properties": {"inbound": {"type": "integer"}, "outbound": {"type": "integer"},
                                              "total": {"type": "integer"}}}
CRITERIA = {"type": "object", "properties": {"criteria": {"type": "string"}}}
DIRECTIONS = ("inbound", "outbound")


def _calls() -> list[dict[str, Any]]:
    from polyvox.platform import control

    try:
        return control.active_calls()
    except (control.RpcError, OSError) as e:  # OSError: proxy-trunks' control FIFO is not there
        raise ApiError(503, f"Active calls are not available: {e}") from e


def _as_entries(db: Engine, brand: int | None, company: int | None) -> list[dict[str, Any]]:
    """The application servers' entries in scope (none while the table does not exist yet)."""
    from polyvox.db.appserver_state import appserver_active_calls as t

    sel = select(t).order_by(t.c.startTime, t.c.id)
    if brand is not None:
        sel = sel.where(t.c.brandId == brand)
    if company is not None:
        sel = sel.where(t.c.companyId == company)
    try:
        with db.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sel)]
    except SQLAlchemyError as e:
        raise ApiError(503, f"Active calls are not available: {e.__class__.__name__}") from e
    out = []
    for r in rows:
        out.append({"source": "appserver", "callId": r["callId"], "direction": r["direction"], "state": r["state"],
                    "brandId": r["brandId"], "companyId": r["companyId"], "ownerType": r["ownerType"],
                    "ownerId": r["ownerId"], "ownerName": r["ownerName"], "ownerNumber": r["ownerNumber"],
                    "party": r["party"], "startTime": _iso(r["startTime"]), "answerTime": _iso(r["answerTime"]),
                    "trunkCallIds": (r["trunkCallIds"] or "").split()})
    return out


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    if getattr(v, "tzinfo", 1) is None:  # SQLite gives naive datetimes back: they are UTC
        from datetime import UTC

        v = v.replace(tzinfo=UTC)
    return str(v.isoformat())


def _company_info(db: Engine, ids: set[int]) -> dict[int, tuple[str, str]]:
    from polyvox.db.model import ENTITY

    if not ids:
        return {}
    c = ENTITY["Company"].table
    with db.connect() as conn:
        return {int(r.id): (str(r.type or ""), str(r.name or ""))
                for r in conn.execute(select(c.c.id, c.c.type, c.c.name).where(c.c.id.in_(ids)))}


def merged(db: Engine, trunk_calls: list[dict[str, Any]], brand: int | None,
           company: int | None) -> list[dict[str, Any]]:
    """Application server entries + the proxy-trunks dialogs they do not already count."""
    entries = _as_entries(db, brand, company)
    covered = {cid for e in entries for cid in e.pop("trunkCallIds")}
    rest = [c for c in _visible(trunk_calls, brand, company) if c["callId"] not in covered]
    companies = _company_info(db, {int(c["companyId"]) for c in rest if c.get("companyId") is not None})
    for c in rest:
        ctype, cname = companies.get(c.get("companyId") or 0, ("", ""))
        owner = (c.get("endpointType"), c.get("endpointId"), c.get("endpointName"))
        if owner[0] is None and ctype == "wholesale":
            owner = ("wholesale", c.get("companyId"), cname)
        elif owner[0] is None and ctype == "retail":
            owner = ("retail", None, None)
        c.update({"source": "trunks", "ownerType": owner[0], "ownerId": owner[1], "ownerName": owner[2],
                  "party": c.get("callee") if c["direction"] == "outbound" else c.get("caller")})
    return sorted([*entries, *rest], key=lambda c: str(c.get("startTime") or ""))


def _scope(api: LevelApi, p: Principal, request: Request) -> tuple[int | None, int | None]:
    """(brand id, company id) the principal may see, narrowed by the level's query parameter."""
    if api.level == "client" or api.level == "user":
        return p.brand_id, p.company_id
    if api.level == "brand":
        return p.brand_id, query_int(request, "company")
    return query_int(request, "brand"), None


def _visible(calls: list[dict[str, Any]], brand: int | None, company: int | None) -> list[dict[str, Any]]:
    return [c for c in calls if (brand is None or c["brandId"] == brand)
            and (company is None or c["companyId"] == company)]


def register(api: LevelApi, add: Add) -> None:
    if api.level not in ("platform", "brand", "client"):
        return

    def counters(request: Request) -> Response:
        p = api.principal(request)
        brand, company = _scope(api, p, request)
        if api.level != "platform" and brand is None:
            raise ApiError(403, "Access denied.")
        calls = merged(api.db, _calls(), brand, company)
        body: dict[str, Any] = {d: sum(1 for c in calls if c["direction"] == d) for d in DIRECTIONS}
        body["total"] = len(calls)
        if request.query_params.get("_details") in ("1", "true", "yes"):
            body["calls"] = calls
        return JSONResponse(body)

    params = {"platform": [{"name": "brand", "description": "Brand Id", "schema": {"type": "integer"}}],
              "brand": [{"name": "company", "description": "Company Id", "schema": {"type": "integer"}}],
              "client": []}[api.level]
    route(api, add, "get", "/my/active_calls", counters, "Retrieves a ActiveCalls resource.",
          params=[*params, {"name": "_details", "description": "1: list the calls too (Polyvox)"}],
          responses=ok("ActiveCalls resource response", COUNTERS, errors=("404", "503")))

    def realtime_filter(request: Request) -> Response:
        """The subscription criteria of the realtime feed for this principal:
        ``trunks:b<brand>:c<company>:<dp<id>|cr<id>>:<direction>`` with ``*`` for any."""
        p = api.principal(request)
        q = request.query_params
        direction = q.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            raise ApiError(400, "direction must be inbound or outbound", field="direction")
        ints: dict[str, int | None] = {}
        for name in ("b", "c", "dp", "cr"):
            raw = q.get(name)
            if raw in (None, ""):
                ints[name] = None
                continue
            ints[name] = as_int(name, raw)
        brand, company = ints["b"], ints["c"]
        if api.level in ("brand", "client"):
            brand = p.brand_id
        if api.level == "client":
            company = p.company_id
        peer = f"dp{ints['dp']}" if ints["dp"] is not None else f"cr{ints['cr']}" if ints["cr"] is not None else "*"
        criteria = ":".join(["trunks", f"b{brand}" if brand is not None else "b*",
                             f"c{company}" if company is not None else "c*", peer, direction or "*"])
        return JSONResponse({"criteria": criteria})

    names = {"platform": ("b", "c", "cr", "dp"), "brand": ("c", "dp", "cr"), "client": ("c", "dp", "cr")}
    route(api, add, "get", "/my/active_calls/realtime_filter", realtime_filter, "Retrieves a ActiveCalls resource.",
          params=[*({"name": n} for n in names[api.level]), {"name": "direction", "schema": {
              "type": "string", "enum": list(DIRECTIONS)}}],
          responses=ok("Criteria response", CRITERIA, errors=("400",)))
