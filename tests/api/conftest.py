"""API fixtures: the real ASGI application over a real database, driven through HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from polyvox.api.app import create_app

SECRET = "test-secret-for-polyvox-api-tests-0123456789"


class Api:
    """A thin client: ``api.get("brand", "/companies", token)``."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def login(self, level: str, username: str, password: str) -> str:
        path = f"/api/{level}/user_login" if level == "user" else f"/api/{level}/admin_login"
        key = "email" if level == "user" else "username"
        r = self.client.post(path, data={key: username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def exchange(self, level: str, token: str, **params: Any) -> str:
        r = self.client.post(f"/api/{level}/token/exchange", data={"token": token, **params})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def request(self, method: str, level: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, f"/api/{level}{path}", headers=headers, **kw)

    def get(self, level: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        return self.request("GET", level, path, token, **kw)

    def post(self, level: str, path: str, token: str | None, body: Any, **kw: Any) -> httpx.Response:
        return self.request("POST", level, path, token, json=body, **kw)

    def put(self, level: str, path: str, token: str | None, body: Any, **kw: Any) -> httpx.Response:
        return self.request("PUT", level, path, token, json=body, **kw)

    def delete(self, level: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", level, path, token, **kw)


@pytest.fixture()
def app_factory(db: Engine) -> Callable[[], Any]:
    return lambda: create_app(db, SECRET)


@pytest.fixture()
def api(db: Engine) -> Iterator[Api]:
    with TestClient(create_app(db, SECRET)) as client:
        yield Api(client)


@pytest.fixture()
def tokens(api: Api) -> dict[str, str]:
    """Demo principals of every level (see polyvox.db.demo)."""
    god = api.login("platform", "admin", "changeme")
    return {
        "platform": god,
        "brand": api.login("brand", "demo", "changeme"),
        "client": api.login("client", "democompany", "changeme"),
        "user": api.login("user", "alice@democompany.com", "alice"),
    }
