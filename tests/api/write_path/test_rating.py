"""Rating (rules.rating): RatingPlan sanitizeValues, CheckDestinationRateGroupDuplicates,
DestinationRateGroup and Destination checks, rating profiles of the brand's own rows."""

from __future__ import annotations

from typing import Any

from tests.api.factory import Factory, make_tenant
from tests.api.write_path.conftest import W


def groups(w: W) -> tuple[int, int]:
    """A new rating plan group and destination rate group of the demo brand (its currency)."""
    n = w.n()
    rpg = w.create("/rating_plan_groups", "brand", name={"en": f"rpg{n}", "es": f"rpg{n}"})
    drg = w.create("/destination_rate_groups", "brand", name={"en": f"drg{n}", "es": f"drg{n}"},
                   description={"en": "", "es": ""}, deductibleConnectionFee=False)
    return rpg["id"], drg["id"]


def plan(rpg: int, drg: int, **body: Any) -> dict[str, Any]:
    return {"ratingPlanGroup": rpg, "destinationRateGroup": drg, "weight": 10, "timingType": "always",
            "timeIn": "08:00:00", **body}


def test_always_plan_covers_every_day_from_midnight(w: W) -> None:
    rpg, drg = groups(w)
    p = w.create("/rating_plans", "brand", **plan(rpg, drg, monday=False))
    assert p["monday"] is True and p["timeIn"].startswith("00:00")


def test_destination_rate_group_once_per_plan_group(w: W) -> None:
    rpg, drg = groups(w)
    w.create("/rating_plans", "brand", **plan(rpg, drg))
    w.refused("/rating_plans", "destinationRateGroup", "brand", **plan(rpg, drg, weight=5))


def test_deductible_connection_fee_is_set_once(w: W) -> None:
    _rpg, drg = groups(w)
    w.refused("/destination_rate_groups", "deductibleConnectionFee", "brand", ident=drg,
              deductibleConnectionFee=True)


def test_destination_prefix_is_e164(w: W) -> None:
    w.refused("/destinations", "prefix", "brand", prefix="34", name={"en": "x", "es": "x"})


def test_destination_rate_periods_and_amounts(w: W) -> None:
    _rpg, drg = groups(w)
    dest = w.create("/destinations", "brand", prefix=f"+88{w.n()}", name={"en": "x", "es": "x"})
    base = {"destinationRateGroup": drg, "destination": dest["id"], "cost": 0.01, "connectFee": 0}
    w.refused("/destination_rates", "cost", "brand", **{**base, "cost": -1}, rateIncrement="60",
              groupIntervalStart="0")
    r = w.create("/destination_rates", "brand", **base, rateIncrement="60", groupIntervalStart="0")
    assert (r["rateIncrement"], r["groupIntervalStart"]) == ("60s", "0s")


def test_rating_profile_of_another_brands_plan_is_refused(w: W) -> None:
    tenant = make_tenant(Factory(w.api, w.tokens))
    rpg, _drg = groups(w)
    r = w.api.post("brand", "/rating_profiles", tenant.tokens["brand"],
                   {"company": tenant.company_id, "ratingPlanGroup": rpg, "activationTime": "2024-01-01 00:00:00"})
    assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "ratingPlanGroup", r.text


def test_group_currency_stays_while_used(w: W) -> None:
    rpg, drg = groups(w)
    w.create("/rating_plans", "brand", **plan(rpg, drg))
    usd = w.api.get("brand", "/currencies", w.tok("brand"), params={"iden": "USD"}).json()[0]["id"]
    w.refused("/rating_plan_groups", "currency", "brand", ident=rpg, currency=usd)
    w.refused("/destination_rate_groups", "currency", "brand", ident=drg, currency=usd)
