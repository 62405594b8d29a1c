"""Spec 9.4.3 "Checking Rating plans", "Simulating a call of a specific client/carrier" and the
client's price list of a rating plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, other_brand, problem


@dataclass
class Plans:
    group: int
    profile: int
    carrier_profile: int
    carrier: int


def _plans(db: Engine) -> Plans:
    d = demo(db)
    spain = add(db, "Destination", brand=d.brand, prefix="+34", name={"en": "Spain"})
    mobile = add(db, "Destination", brand=d.brand, prefix="+346", name={"en": "Spain mobile"})
    drg = add(db, "DestinationRateGroup", brand=d.brand, name={"en": "Standard"}, currency=d.eur,
              deductibleConnectionFee=False)
    add(db, "DestinationRate", destinationRateGroup=drg, destination=spain, cost=Decimal("0.02"),
        connectFee=Decimal("0.01"), rateIncrement="60s", groupIntervalStart="0s")
    add(db, "DestinationRate", destinationRateGroup=drg, destination=mobile, cost=Decimal("0.10"),
        connectFee=Decimal("0"), rateIncrement="1s", groupIntervalStart="0s")
    group = add(db, "RatingPlanGroup", brand=d.brand, name={"en": "Retail"}, currency=d.eur)
    add(db, "RatingPlan", ratingPlanGroup=group, destinationRateGroup=drg, weight=Decimal("10"), timingType="always")
    profile = add(db, "RatingProfile", brand=d.brand, company=d.company, ratingPlanGroup=group,
                  activationTime=dt.datetime(2020, 1, 1))
    carrier = add(db, "Carrier", brand=d.brand, name="Carrier1", calculateCost=True, balance=0)
    carrier_profile = add(db, "RatingProfile", brand=d.brand, carrier=carrier, ratingPlanGroup=group,
                          activationTime=dt.datetime(2020, 1, 1))
    return Plans(group, profile, carrier_profile, carrier)


def _simulate(api: Api, level: str, token: str, path: str, number: str, duration: str):  # type: ignore[no-untyped-def]
    return api.client.post(f"/api/{level}{path}", data={"number": number, "duration": duration},
                           headers={"Authorization": f"Bearer {token}"})


def test_simulate_call_with_a_rating_plan(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    r = _simulate(api, "brand", tokens["brand"], f"/rating_plan_groups/{p.group}/simulate_call", "+34944048184", "90")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["plan"] == "Retail" and info["duration"] == 90
    assert info["patternName"] == "Spain (+34)"
    assert info["connectionCharge"] == 0.01 and info["rate"] == 0.02 and info["ratePeriod"] == 60
    assert info["intervalStart"] == "0"
    assert info["totalCost"] == 0.05  # 0.01 + 2 started minutes x 0.02
    assert info["currencySymbol"] == "€"
    assert dt.datetime.strptime(info["callDate"], "%Y-%m-%d %H:%M:%S")
    # longest prefix wins; per-second increments
    r = _simulate(api, "brand", tokens["brand"], f"/rating_plan_groups/{p.group}/simulate_call", "+34600111222", "30")
    assert (r.json()["patternName"], r.json()["totalCost"]) == ("Spain mobile (+346)", 0.05)
    # JSON body works too; duration 0 means 60 s (IvozProvider)
    r = api.post("brand", f"/rating_plan_groups/{p.group}/simulate_call", tokens["brand"],
                 {"number": "+34944048184", "duration": 0})
    assert r.status_code == 201 and r.json()["duration"] == 60 and r.json()["totalCost"] == 0.03


def test_heavier_plan_wins(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    d = demo(db)
    promo_dest = add(db, "Destination", brand=d.brand, prefix="+3494", name={"en": "Bizkaia"})
    promo = add(db, "DestinationRateGroup", brand=d.brand, name={"en": "Promo"}, currency=d.eur)
    add(db, "DestinationRate", destinationRateGroup=promo, destination=promo_dest, cost=Decimal("0"),
        connectFee=Decimal("0"), rateIncrement="1s", groupIntervalStart="0s")
    add(db, "RatingPlan", ratingPlanGroup=p.group, destinationRateGroup=promo, weight=Decimal("20"),
        timingType="custom", timeIn=dt.time(0), monday=True, tuesday=True, wednesday=True, thursday=True,
        friday=True, saturday=True, sunday=True)
    r = _simulate(api, "brand", tokens["brand"], f"/rating_plan_groups/{p.group}/simulate_call", "+34944048184", "600")
    assert (r.json()["patternName"], r.json()["totalCost"]) == ("Bizkaia (+3494)", 0)
    # numbers the promotion does not cover still use the general rates
    r = _simulate(api, "brand", tokens["brand"], f"/rating_plan_groups/{p.group}/simulate_call", "+34600000000", "1")
    assert r.json()["patternName"] == "Spain mobile (+346)"


def test_simulate_call_bad_input_and_cannot_rate(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    path = f"/rating_plan_groups/{p.group}/simulate_call"
    body = problem(_simulate(api, "brand", tokens["brand"], path, "+1555000111", "60"), 400, "number")
    assert "Destination rate not found" in body["detail"]
    problem(_simulate(api, "brand", tokens["brand"], path, "944048184", "60"), 400, "number")
    problem(_simulate(api, "brand", tokens["brand"], path, "", "60"), 400, "number")
    problem(_simulate(api, "brand", tokens["brand"], path, "+34944048184", "abc"), 400, "duration")
    problem(_simulate(api, "brand", tokens["brand"], path, "+34944048184", "-5"), 400, "duration")
    problem(_simulate(api, "brand", tokens["brand"], path, "+34944048184", ""), 400, "duration")
    other = other_brand(db)
    problem(_simulate(api, "brand", tokens["brand"], f"/rating_plan_groups/{other.rating_plan_group}/simulate_call",
                      "+34944048184", "60"), 404)
    assert _simulate(api, "brand", "", path, "+34944048184", "60").status_code == 401


def test_simulate_call_as_client_and_carrier(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    for level in ("brand", "client"):
        r = _simulate(api, level, tokens[level], f"/rating_profiles/{p.profile}/simulate_call", "+34944048184", "61")
        assert r.status_code == 201, r.text
        assert (r.json()["plan"], r.json()["totalCost"]) == ("Retail", 0.05)
    r = _simulate(api, "brand", tokens["brand"], f"/rating_profiles/{p.carrier_profile}/simulate_call",
                  "+34600000000", "10")
    assert r.status_code == 201 and r.json()["totalCost"] == 0.0167
    other = other_brand(db)
    problem(_simulate(api, "brand", tokens["brand"], f"/rating_profiles/{other.rating_profile}/simulate_call",
                      "+34944048184", "60"), 404)
    problem(_simulate(api, "client", tokens["client"], f"/rating_profiles/{p.carrier_profile}/simulate_call",
                      "+34944048184", "60"), 404)
    problem(_simulate(api, "client", tokens["client"], f"/rating_profiles/{other.rating_profile}/simulate_call",
                      "+34944048184", "60"), 404)


def test_simulate_call_uses_the_active_profile(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    d = demo(db)
    free = add(db, "DestinationRateGroup", brand=d.brand, name={"en": "Free"}, currency=d.eur)
    everything = add(db, "Destination", brand=d.brand, prefix="+3", name={"en": "Europe 3"})
    add(db, "DestinationRate", destinationRateGroup=free, destination=everything, cost=Decimal("0"),
        connectFee=Decimal("0"), rateIncrement="1s", groupIntervalStart="0s")
    future_group = add(db, "RatingPlanGroup", brand=d.brand, name={"en": "Future"}, currency=d.eur)
    add(db, "RatingPlan", ratingPlanGroup=future_group, destinationRateGroup=free, timingType="always",
        weight=Decimal("10"))
    future = add(db, "RatingProfile", brand=d.brand, company=d.company, ratingPlanGroup=future_group,
                 activationTime=dt.datetime(2999, 1, 1))
    # the profile of 2999 is not active yet: the client's active plan (Retail) prices the call
    r = _simulate(api, "client", tokens["client"], f"/rating_profiles/{future}/simulate_call", "+34944048184", "60")
    assert r.json()["plan"] == "Retail"
    # a carrier with only future profiles cannot rate
    carrier = add(db, "Carrier", brand=d.brand, name="Late", calculateCost=True, balance=0)
    late = add(db, "RatingProfile", brand=d.brand, carrier=carrier, ratingPlanGroup=p.group,
               activationTime=dt.datetime(2999, 1, 1))
    body = problem(_simulate(api, "brand", tokens["brand"], f"/rating_profiles/{late}/simulate_call",
                             "+34944048184", "60"), 400)
    assert "No rating plan is active" in body["detail"]


def test_rating_plan_prices(api: Api, tokens: dict[str, str], db: Engine) -> None:
    p = _plans(db)
    r = api.get("client", f"/rating_plan_groups/{p.group}/prices", tokens["client"])
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"ratingPlan": "Retail", "name": "Spain", "prefix": "+34", "connectFee": 0.01, "cost": 0.02,
         "rateIncrement": "60s", "groupIntervalStart": "0s", "timeIn": "00:00:00", "days": "1111111"},
        {"ratingPlan": "Retail", "name": "Spain mobile", "prefix": "+346", "connectFee": 0.0, "cost": 0.1,
         "rateIncrement": "1s", "groupIntervalStart": "0s", "timeIn": "00:00:00", "days": "1111111"},
    ]
    assert [i["prefix"] for i in api.get("client", f"/rating_plan_groups/{p.group}/prices?prefix=%2B346",
                                         tokens["client"]).json()] == ["+346"]
    csv = api.get("client", f"/rating_plan_groups/{p.group}/prices", tokens["client"], headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1] == "Retail,Spain,+34,0.01,0.02,60s,0s,00:00:00,1111111"
    problem(api.get("client", f"/rating_plan_groups/{p.group}/prices?_page=2", tokens["client"]), 400, "_page")
    problem(api.get("client", f"/rating_plan_groups/{p.group}/prices?foo=1", tokens["client"]), 400, "foo")
    other = other_brand(db)
    problem(api.get("client", f"/rating_plan_groups/{other.rating_plan_group}/prices", tokens["client"]), 404)
