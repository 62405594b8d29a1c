"""Authentication, token exchange (spec 5.1.1 emulation) and the acceptance walkthrough."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.api.conftest import SECRET, Api


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


# -- malformed and forged JWTs (issue 19, items 7 and 10): always a 401 with the reason, never a 500


def _jwt(api: Api, token: str, **changes: object) -> str:
    """A token signed with the API's secret whose claims are those of ``token`` with ``changes``
    (None removes a claim): what a leaked secret or a bug could produce."""
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    for k, v in changes.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _refused(r: httpx.Response, reason: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert reason in r.json()["detail"], r.json()["detail"]


def test_jwt_without_exp_is_refused(api: Api, tokens: dict[str, str]) -> None:
    _refused(api.get("brand", "/companies", _jwt(api, tokens["brand"], exp=None)), '"exp"')
    _refused(api.get("brand", "/companies", _jwt(api, tokens["brand"], iat=None)), '"iat"')
    _refused(api.get("brand", "/companies", _jwt(api, tokens["brand"], exp="tomorrow")), "exp")


@pytest.mark.parametrize(("claim", "value"), [
    ("level", 5), ("level", "root"), ("username", ["demo"]), ("admin_id", "1"), ("admin_id", 1.5),
    ("admin_id", True), ("brand_id", 2**63), ("brand_id", -1), ("company_id", {"id": 1}), ("user_id", "x"),
    ("restricted", "no"), ("timezone", 12), ("timezone", "x" * 5000), ("on_behalf_of", 0), ("origin_level", "god"),
    ("origin_admin_id", [1]), ("ver", "abc"), ("ver", {"admin": 1}), ("ver", None),
])
def test_jwt_claim_of_the_wrong_type_is_refused(api: Api, tokens: dict[str, str], claim: str, value: object) -> None:
    r = api.get("brand", "/companies", _jwt(api, tokens["brand"], **{claim: value}))
    _refused(r, claim)


def test_malformed_tokens_are_refused_with_a_reason(api: Api, tokens: dict[str, str]) -> None:
    header, payload, _sig = tokens["brand"].split(".")
    latin1 = api.client.get("/api/brand/companies", headers={"Authorization": "Bearer é.é.é".encode("latin-1")})
    _refused(latin1, "Invalid JWT Token")
    for token in ("abc", "a.b.c", f"{header}.{payload}", f"{header}.{payload}.AAAA",
                  jwt.encode({"level": "brand", "username": "demo"}, "another-secret-of-at-least-32-bytes!")):
        _refused(api.get("brand", "/companies", token), "Invalid JWT Token")
    none_alg = jwt.encode(jwt.decode(tokens["brand"], SECRET, algorithms=["HS256"]), None, algorithm="none")
    _refused(api.get("brand", "/companies", none_alg), "Invalid JWT Token")
    # the token exchange reads its token from the body: lone surrogates and the like are 401s too
    def post(path: str, body: str) -> httpx.Response:
        return api.client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})

    for token in ('"\\ud800"', '"' + "x" * 10000 + '"', '"[[[[[[[["'):
        r = post("/api/brand/token/exchange", '{"brandId": 1, "token": ' + token + "}")
        assert r.status_code in (400, 401), r.text
    assert post("/api/platform/token/refresh", '{"refresh_token": "\\ud800"}').status_code in (400, 401)
