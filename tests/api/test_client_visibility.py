"""Brand rows a client reads only when linked to it (rating plan groups, routing tags)."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.factory import Factory

I18N = {"en": "g", "es": "g", "ca": "g", "it": "g", "eu": "g"}


def test_client_sees_only_its_rating_plan_groups_and_routing_tags(api: Api, tokens: dict[str, str]) -> None:
    b, c = tokens["brand"], tokens["client"]
    api.put("brand", "/companies/1", b, {"showInvoices": True})
    mine = api.post("brand", "/rating_plan_groups", b, {"name": {**I18N, "en": "mine"}, "description": I18N}).json()
    api.post("brand", "/rating_plan_groups", b, {"name": {**I18N, "en": "other"}, "description": I18N})
    assert api.get("client", "/rating_plan_groups", c).json() == []
    Factory(api, tokens).rating_ready_group("brand", b, group=mine["id"])  # spec 9.4.3: it rates 24x7
    r = api.post("brand", "/rating_profiles", b, {"company": 1, "ratingPlanGroup": mine["id"],
                                                  "activationTime": "2026-01-01 00:00:00"})
    assert r.status_code == 201, r.text
    assert [g["id"] for g in api.get("client", "/rating_plan_groups", c).json()] == [mine["id"]]
    tag = api.post("brand", "/routing_tags", b, {"name": "t", "tag": "12#"}).json()
    assert api.get("client", "/routing_tags", c).json() == []
    assert api.put("brand", "/companies/1", b, {"routingTagIds": [tag["id"]]}).status_code == 200
    assert [t["id"] for t in api.get("client", "/routing_tags", c).json()] == [tag["id"]]
