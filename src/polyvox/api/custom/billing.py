"""External calls: rerating and external rating (spec 8.13.1 "Call rerating", 9.6.2).

* ``POST /billable_calls/rerate`` (brand): body ``billableCallIds`` (JSON object
  ``{"billableCallIds": [1, 2]}``, a bare JSON array, or form fields ``billableCallIds[]``).
  Price, cost, rating plan and destination of each call are recomputed **now** with the rating
  profiles active at the call's start time (the worker's own function,
  :func:`polyvox.workers.billing.rerate`), so there is no "emptied until the next iteration"
  window. Calls included in an invoice, and inbound calls, are refused with a 400 naming them;
  ids of another brand or unknown are a 404 naming them; nothing is changed on any refusal.
  Balances are not adjusted (see docs/billing.md). Answer: the contract's ACK ``{"status": "OK"}``.
* ``PUT /billable_calls/{callid}/rate`` (platform and brand, as in the contract): an external
  rater sets ``price``, ``cost``, ``destinationName`` and/or ``ratingPlanName`` of the outbound
  billable call with that Call-ID (brand level: of the brand's calls). Amounts are non-negative
  with at most 4 decimals; invoiced calls are refused (400). Answer: the BillableCall.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from polyvox.api import files
from polyvox.api.custom.common import Add, item_response, obj, ok, resource, route, scoped
from polyvox.api.engine import as_int, check_privilege
from polyvox.api.errors import ApiError, invalid
from polyvox.domain.rating import MONEY_DECIMALS

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

RATING_FIELDS = {"price": "number", "cost": "number", "destinationName": "string", "ratingPlanName": "string"}
MAX_LENGTH = {"destinationName": 100, "ratingPlanName": 55}


def register(api: LevelApi, add: Add) -> None:
    if api.level == "brand":
        route(api, add, "post", "/billable_calls/rerate", _rerate(api),
              "Rerate calls with the rating plans active at their start time",
              body={"type": "object", "required": ["billableCallIds"],
                    "properties": {"billableCallIds": {"type": "array", "items": {"type": "integer"}}}},
              responses=ok("Rerate done", obj(status="string")))
    if api.level in ("brand", "platform"):
        route(api, add, "put", "/billable_calls/{callid}/rate", _rate(api),
              "Set the price, cost, destination and rating plan of an outbound call (external rater)",
              body=obj(**RATING_FIELDS),
              responses=ok("BillableCall resource updated", {"$ref": "#/components/schemas/BillableCall"},
                           errors=("400", "404")))


async def _ids(request: Request) -> list[int]:
    raw: Any
    if not files.is_form(files.media_type(request)):
        data = await files.read_json(request) if await request.body() else None
        raw = data.get("billableCallIds") if isinstance(data, dict) else data
    else:
        form = await request.form()
        raw = [v for k, v in form.multi_items() if k in ("billableCallIds", "billableCallIds[]")]
        if len(raw) == 1 and isinstance(raw[0], str) and raw[0].strip().startswith("["):
            raw = files.decode_json(raw[0], "billableCallIds")
    if raw is None or raw == [] or raw == "":
        raise invalid("billableCallIds", "This value should not be blank.")
    if not isinstance(raw, list):
        raw = [raw]
    out: list[int] = []
    for v in raw:
        out.append(as_int("billableCallIds", v, minimum=1))
    return sorted(set(out))


def _rerate(api: LevelApi) -> Any:
    res = resource(api, "BillableCall")

    async def handler(request: Request) -> Response:
        p = api.principal(request)
        ids = await _ids(request)

        def do(c: Connection) -> dict[str, str]:
            from polyvox.workers.billing import RerateError, rerate

            check_privilege(c, p, res, "get")
            t = res.table
            visible = {r.id for r in c.execute(scoped(api, "BillableCall", p).where(t.c.id.in_(ids)))}
            missing = [i for i in ids if i not in visible]
            if missing:
                raise ApiError(404, f"Billable calls not found: {', '.join(map(str, missing))}",
                               field="billableCallIds")
            try:
                rerate(c, ids)
            except RerateError as e:
                raise ApiError(400, f"{e}: {', '.join(map(str, e.ids))}", field="billableCallIds") from e
            return {"status": "OK"}

        return JSONResponse(api.run(do))

    return handler


def _money(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise invalid(name, "This value should be a number.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as e:
        raise invalid(name, "This value should be a number.") from e
    if not amount.is_finite() or amount < 0:
        raise invalid(name, "This value should be greater than or equal to 0.")
    if -amount.as_tuple().exponent > MONEY_DECIMALS:  # type: ignore[operator]
        raise invalid(name, f"At most {MONEY_DECIMALS} decimals are allowed.")
    return amount


def _rate(api: LevelApi) -> Any:
    res = resource(api, "BillableCall")

    async def handler(callid: str, request: Request) -> Response:
        p = api.principal(request)
        data = await files.read_json(request) if await request.body() else None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object with the rating values.")
        unknown = sorted(k for k in data if k not in RATING_FIELDS and k != "id" and not k.startswith("@"))
        if unknown:
            raise invalid(unknown[0], "This field is not part of the rating values "
                                      "(price, cost, destinationName, ratingPlanName).")
        values: dict[str, Any] = {}
        for name in ("price", "cost"):
            if name in data:
                values[name] = None if data[name] is None else _money(name, data[name])
        for name in ("destinationName", "ratingPlanName"):
            if name in data:
                v = data[name]
                if v is not None and not isinstance(v, str):
                    raise invalid(name, "This value should be of type string.")
                if v is not None and len(v) > MAX_LENGTH[name]:
                    raise invalid(name, f"This value is too long. It should have {MAX_LENGTH[name]} characters "
                                        "or less.")
                values[name] = v
        if not values:
            raise ApiError(400, "No rating value given (price, cost, destinationName, ratingPlanName).")

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "get")
            t = res.table
            row = c.execute(scoped(api, "BillableCall", p).where(t.c.callid == callid, t.c.direction == "outbound")
                            .order_by(t.c.id).limit(1)).first()
            if row is None:
                raise ApiError(404, f"No outbound billable call with Call-ID {callid!r}")
            if row.invoiceId is not None:
                raise ApiError(400, f"Billable call {row.id} is included in an invoice; delete the invoice first",
                               field="callid")
            c.execute(update(t).where(t.c.id == row.id).values(**values))
            fresh = c.execute(select(t).where(t.c.id == row.id)).first()
            return api.engine.row_to_dict(c, res, fresh, res.item, expand=True)

        return item_response(api, request, res, api.run(do))

    return handler
