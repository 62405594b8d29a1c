"""Outgoing routing, routing patterns and groups (rules.routing): OutgoingRouting
sanitizeValues and what proxy-trunks needs to route a call."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W
from tests.api.write_path.test_carriers import carrier


def pattern(w: W) -> int:
    return int(w.api.get("brand", "/routing_patterns", w.tok("brand"), params={"_itemsPerPage": 1}).json()[0]["id"])


def group(w: W) -> int:
    return int(w.api.get("brand", "/routing_pattern_groups", w.tok("brand"),
                         params={"_itemsPerPage": 1}).json()[0]["id"])


def route(**body: Any) -> dict[str, Any]:
    return {"priority": 1, "weight": 1, "stopper": False, "disableDiversion": False, **body}


def test_route_needs_its_pattern_or_group(w: W) -> None:
    c = carrier(w)["id"]
    w.refused("/outgoing_routings", "routingPattern", "brand", **route(type="pattern", routingMode="static", carrier=c))
    w.refused("/outgoing_routings", "routingPatternGroup", "brand",
              **route(type="group", routingMode="static", carrier=c))


def test_group_route_needs_patterns_in_its_group(w: W) -> None:
    empty = w.create("/routing_pattern_groups", "brand", name=f"empty{w.n()}")
    w.refused("/outgoing_routings", "routingPatternGroup", "brand",
              **route(type="group", routingPatternGroup=empty["id"], routingMode="static", carrier=carrier(w)["id"]))


def test_static_route_needs_its_carrier_lcr_its_carriers(w: W) -> None:
    w.refused("/outgoing_routings", "carrier", "brand", **route(type="pattern", routingPattern=pattern(w),
                                                               routingMode="static"))
    w.refused("/outgoing_routings", "carrierIds", "brand", **route(type="pattern", routingPattern=pattern(w),
                                                                  routingMode="lcr"))


def test_type_and_mode_clear_what_does_not_apply(w: W) -> None:
    c1, c2 = carrier(w)["id"], carrier(w)["id"]
    r = w.create("/outgoing_routings", "brand", **route(type="pattern", routingPattern=pattern(w),
                                                        routingPatternGroup=group(w), routingMode="lcr", carrier=c1,
                                                        carrierIds=[c1, c2]))
    got = w.get("/outgoing_routings", r["id"], "brand")
    assert got is not None and got["routingPatternGroup"] is None and got["carrier"] is None
    assert got["carrierIds"] == [c1, c2]
    got = w.update("/outgoing_routings", r["id"], "brand", routingMode="static", carrier=c2)
    assert got["carrierIds"] == []
    got = w.update("/outgoing_routings", r["id"], "brand", routingMode="block")
    assert got["carrier"] is None and got["stopper"] is True
    f = w.create("/outgoing_routings", "brand", **route(type="fax", routingPattern=pattern(w), routingMode="static",
                                                        carrier=c1))
    assert f["routingPattern"] is None and f["routingPatternGroup"] is None


def test_weight_and_forced_clid(w: W) -> None:
    base = route(type="pattern", routingPattern=pattern(w), routingMode="static", carrier=carrier(w)["id"])
    w.refused("/outgoing_routings", "weight", "brand", **{**base, "weight": 21})
    w.refused("/outgoing_routings", "clid", "brand", **{**base, "forceClid": True})
    w.refused("/outgoing_routings", "clidCountry", "brand", **{**base, "forceClid": True, "clid": "944000000"})
    r = w.create("/outgoing_routings", "brand", **{**base, "forceClid": False, "clid": "944000000"})
    assert r["clid"] is None


def test_pattern_prefix_is_e164(w: W) -> None:
    w.refused("/routing_patterns", "prefix", "brand", prefix="34", name={"en": "x", "es": "x"})
    w.create("/routing_patterns", "brand", prefix="+3494", name={"en": "x", "es": "x"})


def test_group_name_not_blank(w: W) -> None:
    w.refused("/routing_pattern_groups", "name", "brand", name="   ")


def test_deleting_a_pattern_takes_its_routes(w: W) -> None:
    p = w.create("/routing_patterns", "brand", prefix=f"+99{w.n()}", name={"en": "x", "es": "x"})
    r = w.create("/outgoing_routings", "brand", **route(type="pattern", routingPattern=p["id"], routingMode="static",
                                                        carrier=carrier(w)["id"]))
    w.delete("/routing_patterns", p["id"], "brand")
    assert w.get("/outgoing_routings", r["id"], "brand") is None
