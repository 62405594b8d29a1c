"""Data helpers of the custom operation tests (no tests here).

Rows are written straight into the test database (the ``db`` fixture) so that each test
states exactly the data it needs; every operation is then exercised through HTTP.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from polyvox.api.auth import hash_password
from polyvox.api.seeding import create_admin
from polyvox.db.model import ENTITY
from polyvox.db.seed import find, insert
from tests.api.conftest import Api


def row(db: Engine, entity: str, ident: int) -> Any:
    t = ENTITY[entity].table
    with db.connect() as c:
        return c.execute(select(t).where(t.c.id == ident)).first()


def rows(db: Engine, entity: str, **where: Any) -> list[Any]:
    t = ENTITY[entity].table
    with db.connect() as c:
        return list(c.execute(select(t).where(*[t.c[k] == v for k, v in where.items()]).order_by(t.c.id)))


def add(db: Engine, entity: str, **data: Any) -> int:
    with db.begin() as c:
        return insert(c, entity, **data)


def set_(db: Engine, entity: str, ident: int, **columns: Any) -> None:
    t = ENTITY[entity].table
    with db.begin() as c:
        c.execute(t.update().where(t.c.id == ident).values(**columns))


def ident(db: Engine, entity: str, **where: Any) -> int:
    with db.connect() as c:
        found = find(c, entity, **where)
    assert found is not None, (entity, where)
    return int(found)


@dataclass
class Demo:
    brand: int
    company: int
    alice: int
    bob: int
    alice_ext: int
    bob_ext: int
    alice_terminal: int
    spain: int
    eur: int


def demo(db: Engine) -> Demo:
    alice = row(db, "User", ident(db, "User", email="alice@democompany.com"))
    bob = row(db, "User", ident(db, "User", email="bob@democompany.com"))
    return Demo(brand=ident(db, "Brand", name="DemoBrand"), company=ident(db, "Company", name="DemoCompany"),
                alice=alice.id, bob=bob.id, alice_ext=alice.extensionId, bob_ext=bob.extensionId,
                alice_terminal=alice.terminalId, spain=ident(db, "Country", code="ES"),
                eur=ident(db, "Currency", iden="EUR"))


@dataclass
class Other:
    """A second brand with one client, one user and a few rows, for tenancy checks."""

    brand: int
    company: int
    user: int
    extension: int
    calendar: int
    hunt_group: int
    carrier: int
    rating_plan_group: int
    rating_profile: int
    ddi: int
    brand_admin: str
    client_admin: str


def other_brand(db: Engine) -> Other:
    with db.begin() as c:
        lang = find(c, "Language", iden="en")
        tz = find(c, "Timezone", tz="Europe/Madrid")
        eur = find(c, "Currency", iden="EUR")
        spain = find(c, "Country", code="ES")
        brand = insert(c, "Brand", name="OtherBrand", maxCalls=0, language=lang, defaultTimezone=tz, currency=eur)
        company = insert(c, "Company", type="vpbx", name="OtherCompany", brand=brand, country=spain, language=lang,
                         defaultTimezone=tz, currency=eur, maxCalls=0, maxDailyUsage=100, billingMethod="prepaid",
                         balance=5, domainUsers="other.example.com")
        user = int(c.execute(ENTITY["User"].table.insert().values(
            companyId=company, name="Olga", lastname="Other", email="olga@other.example.com",
            **{"pass": hash_password("olga")}, active=True, doNotDisturb=False, isBoss=False, maxCalls=0,
            languageId=lang, timezoneId=tz)).inserted_primary_key[0])
        extension = insert(c, "Extension", company=company, number="300", routeType="user", user=user)
        calendar = insert(c, "Calendar", company=company, name="Other calendar")
        hunt_group = insert(c, "HuntGroup", company=company, name="Other group", strategy="ringAll", ringAllTimeout=10)
        carrier = insert(c, "Carrier", brand=brand, name="OtherCarrier", balance=0, calculateCost=True)
        rpg = insert(c, "RatingPlanGroup", brand=brand, name={"en": "Other plan", "es": "Other plan"}, currency=eur)
        profile = insert(c, "RatingProfile", brand=brand, company=company, ratingPlanGroup=rpg,
                         activationTime=dt.datetime(2000, 1, 1))
        ddi = insert(c, "Ddi", brand=brand, company=company, country=spain, ddi="911000000", ddie164="+34911000000",
                     type="inout", useDdiProviderRoutingTag=False)
        create_admin(c, "otherbrand", "changeme", brand_id=brand)
        create_admin(c, "othercompany", "changeme", brand_id=brand, company_id=company)
    return Other(brand, company, user, extension, calendar, hunt_group, carrier, rpg, profile, ddi,
                 "otherbrand", "othercompany")


def problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert a problem+json answer (and the violated field) and return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    if field is not None:
        assert any(v["propertyPath"] == field for v in body.get("violations", [])), body
    return body


def restricted_brand_admin(api: Api, db: Engine, brand: int, read_only: bool = True) -> str:
    """A restricted brand operator with read-only privileges on everything; its token."""
    from polyvox.api.actions import set_privileges

    with db.begin() as c:
        admin = create_admin(c, "restricted", "changeme", brand_id=brand, restricted=True)
        set_privileges(c, admin, "brand", (False, True, False, False) if read_only else (True, True, True, True))
    return api.login("brand", "restricted", "changeme")
