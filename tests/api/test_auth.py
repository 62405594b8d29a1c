"""Authentication, token exchange (spec 5.1.1 emulation) and the acceptance walkthrough."""

from __future__ import annotations

from tests.api.conftest import Api


def test_admin_login_returns_token_that_lists_demobrand(api: Api) -> None:
    token = api.login("platform", "admin", "changeme")
    r = api.get("platform", "/brands", token)
    assert r.status_code == 200
    assert [b["name"] for b in r.json()] == ["DemoBrand"]
    assert r.headers["X-Total-Items"] == "1"


def test_bad_credentials_are_refused(api: Api) -> None:
    r = api.client.post("/api/platform/admin_login", data={"username": "admin", "password": "wrong"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_admin_cannot_log_in_at_another_level(api: Api) -> None:
    r = api.client.post("/api/brand/admin_login", data={"username": "admin", "password": "changeme"})
    assert r.status_code == 401


def test_token_of_one_level_is_refused_by_another(api: Api, tokens: dict[str, str]) -> None:
    assert api.get("platform", "/brands", tokens["brand"]).status_code == 403
    assert api.get("brand", "/companies", None).status_code == 401


def test_5_1_1_god_emulates_brand_then_client_and_lists_users(api: Api) -> None:
    god = api.login("platform", "admin", "changeme")
    brands = api.get("platform", "/brands", god).json()
    brand_id = next(b["id"] for b in brands if b["name"] == "DemoBrand")
    brand_token = api.exchange("brand", god, brandId=brand_id)
    companies = api.get("brand", "/companies", brand_token).json()
    client_id = next(c["id"] for c in companies if c["name"] == "DemoCompany")
    client_token = api.exchange("client", brand_token, clientId=client_id)
    users = api.get("client", "/users", client_token).json()
    assert sorted(u["name"] for u in users) == ["Alice", "Bob"]


def test_exchange_by_username(api: Api) -> None:
    god = api.login("platform", "admin", "changeme")
    brand_token = api.exchange("brand", god, username="demo")
    client_token = api.exchange("client", brand_token, username="democompany")
    user_token = api.exchange("user", client_token, username="alice@democompany.com")
    assert api.get("user", "/my/profile", user_token).status_code in (200, 404)


def test_exchange_refused_to_lower_level_origin(api: Api, tokens: dict[str, str]) -> None:
    r = api.client.post("/api/brand/token/exchange", data={"token": tokens["client"], "brandId": 1})
    assert r.status_code == 403


def test_refresh_token(api: Api) -> None:
    r = api.client.post("/api/platform/admin_login", data={"username": "admin", "password": "changeme"})
    refresh = r.json()["refresh_token"]
    r2 = api.client.post("/api/platform/token/refresh", data={"refresh_token": refresh})
    assert r2.status_code == 200
    assert api.get("platform", "/brands", r2.json()["token"]).status_code == 200
    # a refresh token is single use
    assert api.client.post("/api/platform/token/refresh", data={"refresh_token": refresh}).status_code == 401


def test_user_login_with_email(api: Api) -> None:
    token = api.login("user", "bob@democompany.com", "bob")
    assert api.get("user", "/countries", token).status_code == 200
