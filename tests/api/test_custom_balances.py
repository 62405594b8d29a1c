"""Spec 9.4.3 "Prepaid balances", "Balance Operations", "Balance Movements List", "Current day usages"."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.api.test_custom_support import (
    add,
    demo,
    ident,
    other_brand,
    problem,
    restricted_brand_admin,
    row,
    rows,
    set_,
)


def _modify(api: Api, token: str, path: str, operation: str, amount: str):  # type: ignore[no-untyped-def]
    return api.client.post(f"/api/brand{path}", data={"operation": operation, "amount": amount},
                           headers={"Authorization": f"Bearer {token}"})


def test_balances_list_prepaid_clients_of_the_brand(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other = other_brand(db)  # its client is prepaid, but of another brand
    r = api.get("brand", "/companies/balances", tokens["brand"])
    assert r.status_code == 200 and r.json() == []
    set_(db, "Company", d.company, billingMethod="pseudoprepaid", balance=Decimal("12.5"))
    items = api.get("brand", "/companies/balances", tokens["brand"]).json()
    assert [(i["id"], i["balance"], i["billingMethod"]) for i in items] == [(d.company, 12.5, "pseudoprepaid")]
    assert items[0]["currency"]["iden"] == "EUR"  # detailed representation: relations embedded
    one = api.get("brand", f"/companies/{d.company}/balances", tokens["brand"])
    assert one.status_code == 200 and one.json()["balance"] == 12.5
    problem(api.get("brand", f"/companies/{other.company}/balances", tokens["brand"]), 404)
    problem(api.get("brand", "/companies/balances?balance[gt]=abc", tokens["brand"]), 400)


def test_daily_usage_lists_every_client(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other = other_brand(db)
    set_(db, "Company", d.company, currentDayUsage=Decimal("3.25"))
    items = api.get("brand", "/companies/dailyUsage", tokens["brand"]).json()
    assert [(i["name"], i["currentDayUsage"], i["maxDailyUsage"]) for i in items] == [("DemoCompany", 3.25, 1000000)]
    assert api.get("brand", f"/companies/{d.company}/dailyUsage", tokens["brand"]).json()["currentDayUsage"] == 3.25
    problem(api.get("brand", f"/companies/{other.company}/dailyUsage", tokens["brand"]), 404)
    assert api.get("brand", "/companies/dailyUsage", None).status_code == 401


def test_modify_company_balance_writes_movements(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    r = _modify(api, tokens["brand"], f"/companies/{d.company}/modify_balance", "increment", "10.5")
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 10.5 and r.json()["id"] == d.company
    r = _modify(api, tokens["brand"], f"/companies/{d.company}/modify_balance", "decrement", "3.0001")
    assert r.json()["balance"] == 7.4999
    moves = rows(db, "BalanceMovement", companyId=d.company)
    assert [(m.amount, m.balance) for m in moves] == [(Decimal("10.5"), Decimal("10.5")),
                                                      (Decimal("-3.0001"), Decimal("7.4999"))]
    assert all(m.createdOn is not None for m in moves)
    listed = api.get("brand", "/balance_movements", tokens["brand"]).json()
    assert [m["balance"] for m in listed] == [10.5, 7.4999]
    # the balance never becomes negative
    body = problem(_modify(api, tokens["brand"], f"/companies/{d.company}/modify_balance", "decrement", "8"), 400,
                   "amount")
    assert "Insufficient" in body["detail"]
    assert row(db, "Company", d.company).balance == Decimal("7.4999")
    assert len(rows(db, "BalanceMovement", companyId=d.company)) == 2


def test_modify_balance_bad_input(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    path = f"/companies/{d.company}/modify_balance"
    problem(_modify(api, tokens["brand"], path, "add", "1"), 400, "operation")
    for amount in ("", "abc", "0", "-1", "1.23456", "NaN"):
        problem(_modify(api, tokens["brand"], path, "increment", amount), 400, "amount")
    r = api.post("brand", path, tokens["brand"], {"operation": "increment", "amount": 2})  # JSON is accepted too
    assert r.status_code == 200 and r.json()["balance"] == 2
    assert rows(db, "BalanceMovement", companyId=d.company)[0].amount == Decimal("2")


def test_modify_balance_tenancy_feature_and_privileges(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other = other_brand(db)
    problem(_modify(api, tokens["brand"], f"/companies/{other.company}/modify_balance", "increment", "1"), 404)
    problem(_modify(api, tokens["brand"], f"/carriers/{other.carrier}/modify_balance", "increment", "1"), 404)
    assert row(db, "Company", other.company).balance == Decimal("5")
    # a brand without the billing feature cannot operate balances
    other_token = api.login("brand", other.brand_admin, "changeme")
    problem(_modify(api, other_token, f"/companies/{other.company}/modify_balance", "increment", "1"), 403)
    # a restricted operator with read-only privileges neither
    token = restricted_brand_admin(api, db, d.brand)
    problem(_modify(api, token, f"/companies/{d.company}/modify_balance", "increment", "1"), 403)
    assert rows(db, "BalanceMovement") == []


def test_modify_carrier_balance(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    carrier = add(db, "Carrier", brand=d.brand, name="Carrier1", balance=0, calculateCost=True)
    r = _modify(api, tokens["brand"], f"/carriers/{carrier}/modify_balance", "increment", "100")
    assert r.status_code == 200 and r.json()["balance"] == 100
    r = _modify(api, tokens["brand"], f"/carriers/{carrier}/modify_balance", "decrement", "40.25")
    assert r.json()["balance"] == 59.75
    moves = rows(db, "BalanceMovement", carrierId=carrier)
    assert [m.balance for m in moves] == [Decimal("100"), Decimal("59.75")]
    assert moves[0].companyId is None
    problem(_modify(api, tokens["brand"], f"/carriers/{carrier}/modify_balance", "decrement", "60"), 400, "amount")
    assert ident(db, "Carrier", name="Carrier1") == carrier
