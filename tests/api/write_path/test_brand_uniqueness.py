"""Brand- and platform-level unique keys (rules.brand_uniqueness): IvozProvider's
``<unique-constraint>`` mappings, a 400 naming the first field."""

from __future__ import annotations

from tests.api.write_path.conftest import W
from tests.api.write_path.test_carriers import carrier
from tests.api.write_path.test_ddi_providers import _registration, provider


def test_carrier_name_per_brand(w: W) -> None:
    c = carrier(w)
    w.refused("/carriers", "name", "brand", name=c["name"], description="", transformationRuleSet=1)


def test_routing_pattern_group_name_per_brand(w: W) -> None:
    g = w.create("/routing_pattern_groups", "brand", name=f"grp{w.n()}")
    w.refused("/routing_pattern_groups", "name", "brand", name=g["name"])


def test_corporation_name_per_brand(w: W) -> None:
    c = w.create("/corporations", "brand", name=f"corp{w.n()}")
    w.refused("/corporations", "name", "brand", name=c["name"])


def test_registration_user_at_domain(w: W) -> None:
    p = provider(w)["id"]
    w.create("/ddi_provider_registrations", "brand", **_registration(p, username="same"))
    w.refused("/ddi_provider_registrations", "username", "brand", **_registration(p, username="same"))


def test_rating_plan_weight_per_group(w: W) -> None:
    from tests.api.write_path.test_rating import groups, plan

    rpg, drg = groups(w)
    _rpg2, drg2 = groups(w)
    w.create("/rating_plans", "brand", **plan(rpg, drg))
    w.refused("/rating_plans", "weight", "brand", **plan(rpg, drg2))


def test_web_portal_url(w: W) -> None:
    url = f"https://portal-u{w.n()}.example.com"
    w.create("/web_portals", "brand", url=url, urlType="admin", name="a", color="c", productName="p")
    w.refused("/web_portals", "url", "brand", url=url, urlType="user", name="b", color="c", productName="p")


def test_application_server_address_and_name(w: W) -> None:
    a = w.create("/application_servers", "platform", name=f"as{w.n()}", ip="192.0.2.200")
    w.refused("/application_servers", "ip", "platform", name=f"as{w.n()}", ip="192.0.2.200")
    w.refused("/application_servers", "name", "platform", name=a["name"], ip="192.0.2.201")
