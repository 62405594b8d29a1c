"""Carriers and carrier servers (rules.carriers): IvozProvider's Carrier and CarrierServer
sanitizeValues and CarrierServer DeleteProtection, and what proxy-trunks needs of a server."""

from __future__ import annotations

from typing import Any

from tests.api.factory import Factory
from tests.api.write_path.conftest import W


def rule_set(w: W) -> int:
    r = w.api.get("brand", "/transformation_rule_sets", w.tok("brand"), params={"_itemsPerPage": 1})
    return int(r.json()[0]["id"])


def carrier(w: W, **body: Any) -> dict[str, Any]:
    return w.create("/carriers", "brand", **{"name": f"carrier{w.n()}", "description": "",
                                             "transformationRuleSet": rule_set(w), **body})


def test_carrier_without_cost_calculation_has_no_currency(w: W) -> None:
    c = carrier(w, calculateCost=False, currency=1)
    row = w.row("Carrier", c["id"])
    assert row is not None and row["currencyId"] is None
    c = carrier(w, calculateCost=True, currency=1)
    row = w.row("Carrier", c["id"])
    assert row is not None and row["currencyId"] == 1


def test_carrier_server_needs_an_address(w: W) -> None:
    """proxy-trunks skips a server without hostname nor IP: refused at write time."""
    c = carrier(w)
    w.refused("/carrier_servers", "sipProxy", "brand", carrier=c["id"], authNeeded="no")


def test_carrier_server_from_sip_proxy(w: W) -> None:
    """sanitizeProxyLogic: hostname and port come from sipProxy (5060 by default)."""
    c = carrier(w)
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="sip.example.com")
    row = w.row("CarrierServer", s["id"])
    assert row is not None
    assert (row["hostname"], row["port"], row["ip"], row["brandId"]) == ("sip.example.com", 5060, None, 1)
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="192.0.2.7:5080")
    got = w.get("/carrier_servers", s["id"], "brand")
    assert got is not None and (got["hostname"], got["ip"], got["port"]) == ("192.0.2.7", "192.0.2.7", 5080)


def test_carrier_server_outbound_proxy(w: W) -> None:
    c = carrier(w)
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="sip.example.com",
                 outboundProxy="192.0.2.8:5070")
    got = w.get("/carrier_servers", s["id"], "brand")
    assert got is not None and (got["hostname"], got["ip"], got["port"]) == ("sip.example.com", "192.0.2.8", 5070)
    w.refused("/carrier_servers", "sipProxy", "brand", carrier=c["id"], authNeeded="no", sipProxy="sip.example.com:5060",
              outboundProxy="192.0.2.8")
    w.refused("/carrier_servers", "outboundProxy", "brand", carrier=c["id"], authNeeded="no",
              sipProxy="sip.example.com", outboundProxy="proxy.example.com")


def test_carrier_server_from_ip_and_port(w: W) -> None:
    """A body with ip and port only (no sipProxy) keeps them and derives the SIP proxy."""
    c = carrier(w)
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", ip="127.0.0.1", port=5099)
    got = w.get("/carrier_servers", s["id"], "brand")
    assert got is not None and (got["ip"], got["port"], got["sipProxy"]) == ("127.0.0.1", 5099, "127.0.0.1:5099")
    w.refused("/carrier_servers", "ip", "brand", carrier=c["id"], authNeeded="no", ip="not-an-ip", port=5060)


def test_carrier_server_auth(w: W) -> None:
    """sanitizeAuth: no authentication, no credentials; authentication needs them."""
    c = carrier(w)
    w.refused("/carrier_servers", "authUser", "brand", carrier=c["id"], authNeeded="yes", sipProxy="192.0.2.9")
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="192.0.2.9",
                 authUser="u", authPassword="p")
    row = w.row("CarrierServer", s["id"])
    assert row is not None and row["authUser"] is None and row["authPassword"] is None
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="yes", sipProxy="192.0.2.9",
                 authUser="u", authPassword="  secret ")
    row = w.row("CarrierServer", s["id"])
    assert row is not None and (row["authUser"], row["authPassword"]) == ("u", "secret")


def test_last_server_of_a_routed_carrier_stays(w: W) -> None:
    """CarrierServer/DeleteProtection: a carrier used by outgoing routes keeps one server."""
    c = carrier(w)
    s1 = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="192.0.2.10")
    s2 = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", sipProxy="192.0.2.11")
    pattern = w.api.get("brand", "/routing_patterns", w.tok("brand"), params={"_itemsPerPage": 1}).json()[0]["id"]
    w.create("/outgoing_routings", "brand", type="pattern", routingPattern=pattern, routingMode="static",
             carrier=c["id"], priority=1, weight=1, stopper=False, disableDiversion=False)
    w.delete("/carrier_servers", s1["id"], "brand")
    r = w.api.delete("brand", f"/carrier_servers/{s2['id']}", w.tok("brand"))
    assert r.status_code == 403, r.text
    assert w.get("/carrier_servers", s2["id"], "brand") is not None


def test_deleting_a_carrier_takes_its_routes(w: W) -> None:
    """IvozProvider's schema: an outgoing route goes with its carrier (never a route without one)."""
    c = carrier(w)
    pattern = w.api.get("brand", "/routing_patterns", w.tok("brand"), params={"_itemsPerPage": 1}).json()[0]["id"]
    route = w.create("/outgoing_routings", "brand", type="pattern", routingPattern=pattern, routingMode="static",
                     carrier=c["id"], priority=1, weight=1, stopper=False, disableDiversion=False)
    w.delete("/carriers", c["id"], "brand")
    assert w.get("/outgoing_routings", route["id"], "brand") is None


def test_deleting_a_carrier_takes_its_rating_profiles(w: W) -> None:
    c = carrier(w, calculateCost=True)
    n = w.n()
    rpg = w.create("/rating_plan_groups", "brand", name={"en": f"g{n}", "es": f"g{n}"})
    Factory(w.api, w.tokens).rating_ready_group("brand", group=rpg["id"])
    p = w.create("/rating_profiles", "brand", carrier=c["id"], ratingPlanGroup=rpg["id"],
                 activationTime="2024-01-01 00:00:00")
    w.delete("/carriers", c["id"], "brand")
    assert w.row("RatingProfile", p["id"]) is None


def test_carrier_server_address_update(w: W) -> None:
    """Changing the address of a server given by ip and port moves the SIP proxy with it."""
    c = carrier(w)
    s = w.create("/carrier_servers", "brand", carrier=c["id"], authNeeded="no", ip="127.0.0.1", port=5099)
    got = w.update("/carrier_servers", s["id"], "brand", ip="127.0.0.2")
    assert (got["ip"], got["hostname"], got["sipProxy"]) == ("127.0.0.2", "127.0.0.2", "127.0.0.2:5099")
    got = w.update("/carrier_servers", s["id"], "brand", sendPAI=True)
    assert (got["ip"], got["port"]) == ("127.0.0.2", 5099)
