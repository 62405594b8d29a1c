"""The rating-plan read model every role prices with (API simulation, proxy-trunks, billing)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Connection

from polyvox.db.model import ENTITY, metadata
from polyvox.db.read import rating as read_rating


def _add(c: Connection, entity: str, **values: Any) -> int:
    t = ENTITY[entity].table
    return int(c.execute(insert(t).values(**{k: v for k, v in values.items() if k in t.c})).inserted_primary_key[0])


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as c:
        yield c
    engine.dispose()


def _plan(c: Connection, *, group_en: str | None = "Plan", group_es: str = "Plan es", time_in: Any = None,
          bad_rate: bool = False) -> int:
    cur = _add(c, "Currency", iden="EUR", symbol="€", name_en="Euro", name_es="Euro", nameEn="Euro", nameEs="Euro")
    brand = _add(c, "Brand", name="B", currencyId=cur)
    drg = _add(c, "DestinationRateGroup", brandId=brand, nameEn="Rates", nameEs="Tarifas", currencyId=cur,
               deductibleConnectionFee=0)
    for prefix, increment in (("+34", "60s"), ("+346", "a minute" if bad_rate else "60s")):
        dest = _add(c, "Destination", brandId=brand, prefix=prefix, nameEn=f"D{prefix}", nameEs=f"D{prefix}")
        _add(c, "DestinationRate", destinationRateGroupId=drg, destinationId=dest, cost="0.01", connectFee="0",
             rateIncrement=increment, groupIntervalStart="0s")
    group = _add(c, "RatingPlanGroup", brandId=brand, nameEn=group_en, nameEs=group_es, currencyId=cur)
    custom = time_in is not None
    _add(c, "RatingPlan", ratingPlanGroupId=group, destinationRateGroupId=drg, weight=10,
         timingType="custom" if custom else "always", timeIn=time_in,
         **{d: 1 for d in read_rating.WEEKDAYS})
    return group


def test_plan_group_loads_the_domain_objects(conn: Connection) -> None:
    group = read_rating.plan_group(conn.execute, _plan(conn))
    assert group is not None and group.name == "Plan" and group.currency == "EUR"
    (plan,) = group.plans
    assert [r.prefix for r in plan.destination_rate_group.rates] == ["+34", "+346"]
    assert read_rating.plan_group(conn.execute, 999) is None


def test_a_malformed_stored_rate_is_left_out_and_the_plan_still_prices(conn: Connection) -> None:
    group = read_rating.plan_group(conn.execute, _plan(conn, bad_rate=True))
    assert group is not None
    (plan,) = group.plans
    assert [r.prefix for r in plan.destination_rate_group.rates] == ["+34"]
    assert plan.destination_rate_group.rates[0].per_minute == Decimal("0.01")


def test_names_fall_back_to_spanish(conn: Connection) -> None:
    group = read_rating.plan_group(conn.execute, _plan(conn, group_en=""))
    assert group is not None and group.name == "Plan es"


def test_time_in_is_read_from_a_time_or_a_text(conn: Connection) -> None:
    group = read_rating.plan_group(conn.execute, _plan(conn, time_in=dt.time(8, 30)))
    assert group is not None and group.plans[0].timing.time_in == dt.time(8, 30)
    row = {"timingType": "custom", "timeIn": "08:30:00", **{d: 1 for d in read_rating.WEEKDAYS}}
    assert read_rating.plan_timing(row).time_in == dt.time(8, 30)
    assert read_rating.plan_timing({**row, "timingType": None}).always


def test_currency_and_zone_fall_back(conn: Connection) -> None:
    assert read_rating.currency(conn.execute, None, None) == ("", "")
    assert str(read_rating.zone(conn.execute, None)) == "UTC"
