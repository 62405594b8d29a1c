"""Prepaid balances, current day usages and balance operations (spec 9.4.3 "Prepaid balances",
"Balance Operations", "Balance Movements List", "Current day usages").

Decisions
---------
* ``/companies/balances`` lists the brand's clients billed *prepaid* or *pseudoprepaid* (the
  ones the spec's "Prepaid balances" section shows); ``/companies/dailyUsage`` lists every
  client of the brand. Both use the contract's detailed Company representation and accept
  the usual collection filters. The balance is the one stored by Polyvox (no external
  rating engine is asked, so there is no "differs from runtime" state).
* ``modify_balance`` takes the contract's ``operation`` (``increment``/``decrement``) and
  ``amount`` (a positive decimal with at most 4 decimals, spec 9.4.3 "4 decimals precision").
  A decrement that would leave the balance below zero is refused (400 on ``amount``): an
  operator's decrease corrects credit that was added, it must not create a debt — only calls
  consume a prepaid balance. Each operation writes a BalanceMovement (signed amount, resulting
  balance, ``createdOn`` in UTC) in the same transaction, as the spec's "Balance Movements
  List" requires. Like IvozProvider, the brand needs the *billing* feature (else 403).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, select, update
from sqlalchemy.engine import Connection

from polyvox.api.custom.common import (
    Add,
    array_of,
    collection,
    item_response,
    ok,
    read_params,
    resource,
    route,
    scoped,
)
from polyvox.api.engine import check_privilege
from polyvox.api.errors import ApiError, invalid
from polyvox.db.model import ENTITY
from polyvox.domain.rating import MONEY_DECIMALS

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

PREPAID = ("prepaid", "pseudoprepaid")


def register(api: LevelApi, add: Add) -> None:
    if api.level != "brand":
        return
    res = resource(api, "Company")
    co = res.table

    def one(ident: str, request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "get")
            row = api.engine.fetch(c, res, p, ident)
            return api.engine.row_to_dict(c, res, row, res.item, expand=True)

        return item_response(api, request, res, api.run(do))

    def many(prepaid_only: bool) -> Any:
        def handler(request: Request) -> Response:
            p = api.principal(request)

            def build(_c: Connection) -> Select[Any]:
                sel = scoped(api, "Company", p)
                return sel.where(co.c.billingMethod.in_(PREPAID)) if prepaid_only else sel

            return collection(api, request, res, p, build, res.item, expand=True)

        return handler

    detailed = {"$ref": "#/components/schemas/Company-detailed"}
    route(api, add, "get", "/companies/balances", many(True),
          "Balances of the brand's prepaid and pseudo-prepaid clients",
          responses=ok("Company collection", array_of(detailed), errors=()))
    route(api, add, "get", "/companies/{ident}/balances", one, "Balance of a client",
          responses=ok("Company", detailed, errors=("404",)))
    route(api, add, "get", "/companies/dailyUsage", many(False), "Current day usage of every client of the brand",
          responses=ok("Company collection", array_of(detailed), errors=()))
    route(api, add, "get", "/companies/{ident}/dailyUsage", one, "Current day usage of a client",
          responses=ok("Company", detailed, errors=("404",)))

    form = {"operation": {"type": "string", "enum": ["increment", "decrement"], "required": True},
            "amount": {"type": "string", "description": "Positive amount, at most 4 decimals", "required": True}}
    for entity, path in (("Company", "/companies/{ident}/modify_balance"), ("Carrier", "/carriers/{ident}/modify_balance")):
        route(api, add, "post", path, _modify(api, resource(api, entity)),
              f"Increment or decrement the balance of a {'client' if entity == 'Company' else 'carrier'}",
              form=dict(form), responses=ok("Balance Modified", {"$ref": f"#/components/schemas/{entity}-detailed"},
                                            errors=("400", "403", "404")))


def parse_operation(params: dict[str, Any]) -> tuple[str, Decimal]:
    operation = params.get("operation")
    if operation in (None, ""):
        raise invalid("operation", "This value should not be blank.")
    if operation not in ("increment", "decrement"):
        raise invalid("operation", "The value you selected is not a valid choice (increment, decrement).")
    raw = params.get("amount")
    if raw is None or str(raw).strip() == "":
        raise invalid("amount", "This value should not be blank.")
    if isinstance(raw, bool):
        raise invalid("amount", "This value should be a positive number.")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation as e:
        raise invalid("amount", "This value should be a positive number.") from e
    if not amount.is_finite() or amount <= 0:
        raise invalid("amount", "This value should be a positive number.")
    if -amount.as_tuple().exponent > MONEY_DECIMALS:  # type: ignore[operator]
        raise invalid("amount", f"At most {MONEY_DECIMALS} decimals are allowed.")
    return operation, amount


def _brand_has_billing(c: Connection, brand_id: int | None) -> bool:
    rel, feat = ENTITY["FeaturesRelBrand"].table, ENTITY["Feature"].table
    q = select(rel.c.id).join(feat, feat.c.id == rel.c.featureId).where(rel.c.brandId == brand_id,
                                                                           feat.c.iden == "billing")
    return c.execute(q.limit(1)).first() is not None


def _modify(api: LevelApi, res: Any) -> Any:
    t = res.table
    owner_col = "companyId" if res.name == "Company" else "carrierId"

    async def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)
        operation, amount = parse_operation(await read_params(request))

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "update")
            row = api.engine.fetch(c, res, p, ident, write=True)
            if not _brand_has_billing(c, p.brand_id):
                raise ApiError(403, "Balance operations need the brand's billing feature.")
            delta = amount if operation == "increment" else -amount
            current = Decimal(str(row.balance or 0))
            new = current + delta
            if new < 0:
                raise invalid("amount", f"Insufficient balance: {current} available, the balance cannot become "
                                        "negative.")
            # guarded update: a concurrent operation cannot make the balance negative
            stmt = update(t).where(t.c.id == row.id)
            if row.balance is None:
                stmt = stmt.where(t.c.balance.is_(None))
            else:
                stmt = stmt.where(t.c.balance == row.balance)
            if c.execute(stmt.values(balance=new)).rowcount != 1:
                raise ApiError(409, "The balance changed meanwhile; retry the operation.")
            bm = ENTITY["BalanceMovement"].table
            c.execute(bm.insert().values(**{owner_col: row.id, "brandId": row.brandId, "amount": delta, "balance": new,
                                            "createdOn": dt.datetime.now(dt.UTC).replace(tzinfo=None,
                                                                                          microsecond=0)}))
            fresh = c.execute(select(t).where(t.c.id == row.id)).first()
            return api.engine.row_to_dict(c, res, fresh, res.item, expand=True)

        return JSONResponse(api.run(do))

    return handler
