"""Active external calls (IvozProvider ``/my/active_calls`` and ``/my/active_calls/realtime_filter``
at platform, brand and client levels; spec 8.12, 9.6.1).

Read live from proxy-trunks' dialogs through :mod:`polyvox.sip.control` (no database table).
Scoping: a client sees its own calls, a brand its clients' calls (``company`` narrows), the
platform every call (``brand`` narrows). Calls to special numbers with *Disable CDR* are never
listed (8.9.1). The contract's answer is the counters ``{inbound, outbound, total}``;
``_details=1`` (Polyvox extension) adds ``calls``: one item per call (direction, state
trying|early|confirmed, caller, callee, carrier / DDI provider, start and answer times).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from polyvox.api.auth import Principal
from polyvox.api.custom.common import Add, ok, query_int, route
from polyvox.api.errors import ApiError

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

COUNTERS = {"type": "object", "properties": {"inbound": {"type": "integer"}, "outbound": {"type": "integer"},
                                              "total": {"type": "integer"}}}
CRITERIA = {"type": "object", "properties": {"criteria": {"type": "string"}}}
DIRECTIONS = ("inbound", "outbound")


def _calls() -> list[dict[str, Any]]:
    from polyvox.sip import control

    try:
        return control.active_calls()
    except control.RpcError as e:
        raise ApiError(503, f"Active calls are not available: {e}") from e


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
        calls = _visible(_calls(), brand, company)
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
          responses=ok("ActiveCalls resource response", COUNTERS, errors=("404",)))

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
            try:
                ints[name] = int(str(raw))
            except ValueError as e:
                raise ApiError(400, f"{name} must be an integer", field=name) from e
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
