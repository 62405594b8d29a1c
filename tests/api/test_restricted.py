"""Spec 19: restricted administrators."""

from __future__ import annotations

from tests.api.conftest import Api


def _brand_admin(api: Api, token: str, username: str, restricted: bool) -> int:
    """Brand operators are the global operator's to create (platform API, with a brand)."""
    r = api.post("platform", "/administrators", token, {"brand": 1, "username": username, "pass": "secret-pass", "email":
                                                     f"{username}@example.com", "active": True,
                                                     "restricted": restricted, "name": username,
                                                     "lastname": "x", "canImpersonate": False})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_19_1_new_restricted_administrator_is_read_only(api: Api, tokens: dict[str, str]) -> None:
    _brand_admin(api, tokens["platform"], "auditor", restricted=True)
    token = api.login("brand", "auditor", "secret-pass")
    assert api.get("brand", "/companies", token).status_code == 200
    r = api.post("brand", "/routing_tags", token, {"name": "t", "tag": "12#"})
    assert r.status_code == 403
    assert api.get("brand", "/routing_tags", tokens["brand"]).json() == []


def test_19_1_turning_restricted_resets_to_read_only(api: Api, tokens: dict[str, str]) -> None:
    ident = _brand_admin(api, tokens["platform"], "ops", restricted=False)
    token = api.login("brand", "ops", "secret-pass")
    assert api.post("brand", "/routing_tags", token, {"name": "a", "tag": "1#"}).status_code == 201
    god = tokens["platform"]
    assert api.put("platform", f"/administrators/{ident}", god, {"restricted": True}).status_code == 200
    token = api.login("brand", "ops", "secret-pass")
    assert api.post("brand", "/routing_tags", token, {"name": "b", "tag": "2#"}).status_code == 403
    assert api.get("brand", "/routing_tags", token).status_code == 200
    # revoke all: nothing readable; grant all: full access again
    assert api.post("platform", f"/administrators/{ident}/revoke_all", god, {}).status_code == 200
    assert api.get("brand", "/routing_tags", token).status_code == 403
    assert api.post("platform", f"/administrators/{ident}/grant_all", god, {}).status_code == 200
    assert api.post("brand", "/routing_tags", token, {"name": "b", "tag": "2#"}).status_code == 201
