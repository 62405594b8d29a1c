"""Rating plan checks (spec 9.4.3 "Checking Rating plans", "Simulating a call of a specific
client/carrier") and the price list of a rating plan (client portal).

The stored rows become :mod:`polyvox.domain.rating` objects (destination rates with their
prefixes, rating plans with weights and timings, rating profiles with activation times)
and :func:`polyvox.domain.rating.simulate_call` prices the call, at the current moment in
the brand's (or client's) timezone, exactly as calls are rated.

* ``POST /rating_plan_groups/{id}/simulate_call`` rates with that rating plan.
* ``POST /rating_profiles/{id}/simulate_call`` rates as the profile's client (or carrier):
  its *active* rating plan at this moment is used (spec: "Active rating plan of a given
  client will be used"), with the profile's routing tag if it has one.
* Parameters ``number`` (E.164, "+" and digits) and ``duration`` (seconds; 0 means 60 as in
  IvozProvider) come as form fields or JSON. A number no rate covers, a moment no plan
  covers or a client without an active plan is a 400 naming the reason ("cannot rate").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import (
    CSV,
    Add,
    array_of,
    int_param,
    negotiate,
    obj,
    ok,
    read_params,
    resource,
    route,
)
from polyvox.api.engine import check_privilege
from polyvox.api.errors import ApiError, invalid
from polyvox.db.model import ENTITY
from polyvox.db.read import rating as read_rating
from polyvox.domain.rating import (
    CannotRate,
    CannotRateReason,
    DestinationRateGroup,
    RatedCall,
    RatingAccount,
    RatingPlanGroup,
    RatingProfile,
    simulate_call,
)

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

WEEKDAYS = read_rating.WEEKDAYS
TARIFICATION = obj(plan="string", callDate="string", duration="integer", patternName="string",
                   connectionCharge="number", intervalStart="string", rate="number", ratePeriod="integer",
                   totalCost="number", currencySymbol="string")
PRICE_FIELDS = ("ratingPlan", "name", "prefix", "connectFee", "cost", "rateIncrement", "groupIntervalStart",
                "timeIn", "days")


def _t(name: str) -> Any:
    return ENTITY[name].table


def register(api: LevelApi, add: Add) -> None:
    form = {"number": {"type": "string", "description": "Phone number (E.164)", "required": True},
            "duration": {"type": "integer", "description": "Call duration (seconds)", "required": True}}
    responses = ok("Simulated Call", TARIFICATION, status="201")
    if api.level == "brand":
        route(api, add, "post", "/rating_plan_groups/{ident}/simulate_call", _simulate_group(api),
              "Price a call with this rating plan", form=dict(form), responses=responses)
    if api.level in ("brand", "client"):
        route(api, add, "post", "/rating_profiles/{ident}/simulate_call", _simulate_profile(api),
              "Price a call as this profile's client or carrier (its active rating plan)", form=dict(form),
              responses=responses)
    if api.level == "client":
        route(api, add, "get", "/rating_plan_groups/{ident}/prices", _prices(api),
              "Prices of every destination of a rating plan (JSON, or CSV with Accept: text/csv)",
              params=[{"name": f} for f in PRICE_FIELDS],
              responses=ok("RatingPlanPrices collection", array_of(obj(
                  ratingPlan="string", name="string", prefix="string", connectFee="number", cost="number",
                  rateIncrement="string", groupIntervalStart="string", timeIn="string", days="string"))))


# ---------------------------------------------------------------------------------------------
# loading the domain objects


def _zone(c: Connection, timezone_id: int | None) -> ZoneInfo:
    return read_rating.zone(c.execute, timezone_id)


def load_plan_group(c: Connection, group_id: int, cache: dict[int, DestinationRateGroup | None] | None = None
                    ) -> tuple[RatingPlanGroup, str]:
    """The rating plan group as a domain object, and its currency symbol; 404 if it is gone.
    ``cache`` keeps the destination rate groups loaded (by id) for the next group."""
    drgs: dict[int, DestinationRateGroup | None] = {} if cache is None else cache

    def rates(drg_id: int, brand_id: int | None) -> DestinationRateGroup | None:
        if drg_id not in drgs:
            drgs[drg_id] = read_rating.destination_rate_group(c.execute, drg_id, brand_id)
        return drgs[drg_id]

    group = read_rating.plan_group(c.execute, group_id, rates)
    if group is None:
        raise ApiError(404, "Rating plan not found")
    return group, read_rating.plan_group_symbol(c.execute, group_id)


# ---------------------------------------------------------------------------------------------
# simulation


async def _call_params(request: Request) -> tuple[str, int]:
    params = await read_params(request)
    number = params.get("number")
    if number is None or str(number).strip() == "":
        raise invalid("number", "This value should not be blank.")
    number = str(number).strip()
    if not number.startswith("+"):
        raise invalid("number", 'Phone number must be in E.164 format (prefixed by "+" symbol).')
    duration = int_param(params.get("duration"), "duration", required=True, minimum=0)
    assert duration is not None
    return number, duration or 60


def _tarification(rated: RatedCall | CannotRate, duration: int, symbol: str, zone: ZoneInfo) -> dict[str, Any]:
    if isinstance(rated, CannotRate):
        field = "number" if rated.reason in (CannotRateReason.INVALID_NUMBER, CannotRateReason.NO_DESTINATION) \
            else None
        reason = {CannotRateReason.NO_DESTINATION: "Destination rate not found",
                  CannotRateReason.NO_ACTIVE_PROFILE: "No rating plan is active",
                  CannotRateReason.NO_PLAN_AT_TIME: "No rating plan applies at this moment",
                  CannotRateReason.CURRENCY_MISMATCH: "Currency mismatch",
                  CannotRateReason.INVALID_NUMBER: "Invalid number"}[rated.reason]
        raise ApiError(400, f"Cannot rate this call: {reason} ({rated.detail}).", field=field)
    rate = rated.match.rate
    return {
        "plan": rated.plan_name,
        "callDate": rated.start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        "duration": duration,
        "patternName": f"{rated.destination} ({rated.prefix})",
        "connectionCharge": float(rate.connection_fee),
        "intervalStart": str(rate.interval_start),
        "rate": float(rate.per_minute),
        "ratePeriod": rate.increment,
        "totalCost": float(rated.cost.charged),
        "currencySymbol": symbol,
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _simulate_group(api: LevelApi) -> Any:
    res = resource(api, "RatingPlanGroup")

    async def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)
        number, duration = await _call_params(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "get")
            row = api.engine.fetch(c, res, p, ident)
            group, symbol = load_plan_group(c, row.id)
            brand = c.execute(select(_t("Brand").c.defaultTimezoneId).where(_t("Brand").c.id == row.brandId)).scalar()
            zone = _zone(c, brand)
            return _tarification(simulate_call(group, number, _now(), duration, tz=zone), duration, symbol, zone)

        return JSONResponse(api.run(do), status_code=201)

    return handler


def _simulate_profile(api: LevelApi) -> Any:
    res = resource(api, "RatingProfile")

    async def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)
        number, duration = await _call_params(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "get")
            row = api.engine.fetch(c, res, p, ident)
            prof, tag_t = _t("RatingProfile"), _t("RoutingTag")
            if row.companyId is not None:
                owner = c.execute(select(_t("Company")).where(_t("Company").c.id == row.companyId)).first()
                sel = select(prof).where(prof.c.companyId == row.companyId)
                tz_id = owner.defaultTimezoneId
            elif row.carrierId is not None:
                owner = c.execute(select(_t("Carrier")).where(_t("Carrier").c.id == row.carrierId)).first()
                sel = select(prof).where(prof.c.carrierId == row.carrierId)
                tz_id = None
            else:
                raise ApiError(400, "This rating profile belongs to no client or carrier.")
            brand_id = owner.brandId
            if tz_id is None:
                tz_id = c.execute(select(_t("Brand").c.defaultTimezoneId).where(_t("Brand").c.id == brand_id)).scalar()
            zone = _zone(c, tz_id)
            cache: dict[int, DestinationRateGroup | None] = {}
            groups: dict[int, tuple[RatingPlanGroup, str]] = {}
            profiles = []
            for r in c.execute(sel.order_by(prof.c.id)):
                if r.ratingPlanGroupId not in groups:
                    groups[r.ratingPlanGroupId] = load_plan_group(c, r.ratingPlanGroupId, cache)
                tag = c.execute(select(tag_t.c.tag).where(tag_t.c.id == r.routingTagId)).scalar() \
                    if r.routingTagId else None
                when = (r.activationTime or dt.datetime(1970, 1, 1)).replace(tzinfo=dt.UTC)
                profiles.append(RatingProfile(when, groups[r.ratingPlanGroupId][0], routing_tag=tag))
            iden, _ = read_rating.currency(c.execute, owner.currencyId, brand_id)
            account = RatingAccount(name=owner.name or f"#{owner.id}", currency=iden, profiles=tuple(profiles))
            my_tag = c.execute(select(tag_t.c.tag).where(tag_t.c.id == row.routingTagId)).scalar() \
                if row.routingTagId else None
            rated = simulate_call(account, number, _now(), duration, routing_tag=my_tag, tz=zone)
            symbol = ""
            if isinstance(rated, RatedCall):
                symbol = next(s for g, s in groups.values() if g is rated.match.plan_group)
            return _tarification(rated, duration, symbol, zone)

        return JSONResponse(api.run(do), status_code=201)

    return handler


# ---------------------------------------------------------------------------------------------
# price list


def plan_prices(c: Connection, group_id: int) -> list[dict[str, Any]]:
    """Every destination of the plan with its price window (IvozProvider's RatingPlanPrices):
    sorted by destination name, prefix and weight; a window (time in + days) already priced
    for a prefix by a heavier plan is not repeated."""
    g, rp, dr, dest = _t("RatingPlanGroup"), _t("RatingPlan"), _t("DestinationRate"), _t("Destination")
    name = c.execute(select(g.c.nameEn).where(g.c.id == group_id)).scalar() or ""
    q = (select(rp.c.weight, rp.c.timingType, rp.c.timeIn, *(rp.c[d] for d in WEEKDAYS), dest.c.nameEn,
                dest.c.prefix, dr.c.connectFee, dr.c.cost, dr.c.rateIncrement, dr.c.groupIntervalStart)
         .join(dr, dr.c.destinationRateGroupId == rp.c.destinationRateGroupId)
         .join(dest, dest.c.id == dr.c.destinationId)
         .where(rp.c.ratingPlanGroupId == group_id))
    rows = []
    for r in c.execute(q):
        m = r._mapping
        custom = (m["timingType"] or "always") == "custom"
        time_in = read_rating.plan_timing(m).time_in
        days = "".join("1" if (not custom or m[d] is None or m[d]) else "0" for d in WEEKDAYS)
        rows.append((m["nameEn"] or "", m["prefix"] or "", -(m["weight"] if m["weight"] is not None else 10), {
            "ratingPlan": name, "name": m["nameEn"] or "", "prefix": m["prefix"] or "",
            "connectFee": float(m["connectFee"] or 0), "cost": float(m["cost"] or 0),
            "rateIncrement": m["rateIncrement"], "groupIntervalStart": m["groupIntervalStart"],
            "timeIn": time_in.strftime("%H:%M:%S"), "days": days}))
    rows.sort(key=lambda x: (x[0], x[1], x[2]))
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for _n, prefix, _w, item in rows:
        window = (prefix, item["timeIn"], item["days"])
        if window in seen:
            continue
        seen.add(window)
        out.append(item)
    return out


def _prices(api: LevelApi) -> Any:
    res = resource(api, "RatingPlanGroup")

    def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)
        fmt = negotiate(request)
        filters: dict[str, str] = {}
        for k, v in request.query_params.items():
            if k in ("_page", "_itemsPerPage"):
                raise invalid(k, f"{k} querystring arguments is not supported here.")
            if k.startswith("_"):
                continue
            if k not in PRICE_FIELDS:
                raise invalid(k, "Unknown filter.")
            filters[k] = v

        def do(c: Connection) -> list[dict[str, Any]]:
            check_privilege(c, p, res, "get")
            row = api.engine.fetch(c, res, p, ident)
            items = plan_prices(c, row.id)
            return [i for i in items if all(str(i[k]) == v for k, v in filters.items())]

        items = api.run(do)
        headers = {"X-Total-Items": str(len(items)), "X-Total-Pages": "1"}
        if fmt == CSV:
            out = io.StringIO()
            w = csv.writer(out)
            w.writerow(["rating plan", "name", "prefix", "connection fee", "cost", "rate increment",
                        "group interval start", "time in", "days"])
            for i in items:
                w.writerow([i[k] for k in PRICE_FIELDS])
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                            headers={**headers, "Content-Disposition": 'inline; filename="prices.csv"'})
        return JSONResponse(items, headers=headers)

    return handler
