"""Fixes found while building the custom operations."""

from __future__ import annotations

import json

from tests.api.conftest import Api


def test_password_hashes_cannot_be_probed_with_filters(api: Api, tokens: dict[str, str]) -> None:
    for q in ("pass[start]=$2b", "_order[pass]=ASC", "exists[pass]=true"):
        r = api.get("client", f"/users?{q}", tokens["client"])
        assert r.status_code == 400, q
    assert api.get("client", "/terminals?password=alice", tokens["client"]).status_code == 400


def test_client_creates_user_without_voicemail_or_contact(api: Api, tokens: dict[str, str]) -> None:
    r = api.post("client", "/users", tokens["client"], {"name": "Carol", "lastname": "Demo",
                                                        "email": "carol@democompany.com"})
    assert r.status_code == 201, r.text


def test_carrier_balance_movements_are_listed_for_the_brand(api: Api, tokens: dict[str, str]) -> None:
    t = tokens["brand"]
    rules = api.get("brand", "/transformation_rule_sets?_itemsPerPage=1", t).json()[0]["id"]
    carrier = api.post("brand", "/carriers", t, {"name": "Carrier A", "description": "", "transformationRuleSet": rules})
    assert carrier.status_code == 201, carrier.text
    r = api.client.post(f"/api/brand/carriers/{carrier.json()['id']}/modify_balance",
                        headers={"Authorization": f"Bearer {t}"}, json={"operation": "increment", "amount": 10})
    assert r.status_code in (200, 201), r.text
    moves = api.get("brand", "/balance_movements", t).json()
    assert [m["carrier"] for m in moves] == [carrier.json()["id"]]


def test_web_portal_configured_through_the_api(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    body = {"url": "https://portal.example.com", "urlType": "brand", "name": "Demo portal", "brand": 1}
    r = api.client.post("/api/platform/web_portals", headers={"Authorization": f"Bearer {god}"},
                        data={"webPortal": json.dumps(body)}, files={"Logo": ("l.png", b"\x89PNG", "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == "https://portal.example.com"
    assert api.get("platform", f"/web_portals/{r.json()['id']}/logo", god).content == b"\x89PNG"
    bad = api.post("platform", "/web_portals", god, {**body, "url": "http://portal.example.com/"})
    assert bad.status_code == 400
