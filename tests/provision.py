"""Provisioning as operators do it: the REST API, each level with its own token.

One small client shared by tests/sip, tests/appserver and tests/billing. A ``Level`` is one
principal's view of the API (``/api/platform``, ``/api/brand``, ``/api/client``); the global
operator reaches a brand and a brand reaches its clients by token exchange, as IvozProvider's
portal emulation does. Every write asserts its status and returns the JSON row, so a refused
configuration fails the test where it was written, with the API's reason.

``Provisioner`` adds the one convenience the call-flow tests need: ``create("HuntGroup", ...)``
sends the row to the level that owns it (a client's rows through that client's token, brand
rows through the brand's, platform rows through the global operator's), with API field names
and relation ids exactly as an IvozProvider integration would send them.
"""

from __future__ import annotations

from typing import Any

import httpx

from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.model import ENTITY

DEMO_ADMIN = ("admin", "changeme")


class ApiRefused(AssertionError):
    """The API answered a write with an error: the test's configuration is wrong or a rule refused it."""


class Level:
    """One principal on one API level."""

    def __init__(self, http: httpx.Client, level: str, token: str) -> None:
        self.http, self.level, self.token = http, level, token

    def _url(self, path: str) -> str:
        return f"/api/{self.level}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **kw.pop("headers", {})}
        return self.http.request(method, self._url(path), headers=headers, **kw)

    def _ok(self, r: httpx.Response, *status: int) -> Any:
        if r.status_code not in status:
            raise ApiRefused(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:600]}")
        return r.json() if r.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self._ok(self.request("GET", path, params=params), 200)

    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(path, _pagination="false", **params))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._ok(self.request("POST", path, json=body), 201))

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._ok(self.request("PUT", path, json=body), 200))

    def delete(self, path: str) -> None:
        self._ok(self.request("DELETE", path), 204)

    def exchange(self, level: str, **target: Any) -> Level:
        """A lower level's token: ``brandId=``, ``clientId=`` or ``username=``."""
        r = self.http.post(f"/api/{level}/token/exchange", data={"token": self.token, **target})
        return Level(self.http, level, str(self._ok(r, 201)["token"]))


def login(http: httpx.Client, level: str, username: str, password: str) -> Level:
    path, key = (f"/api/{level}/user_login", "email") if level == "user" else (f"/api/{level}/admin_login", "username")
    r = http.post(path, data={key: username, "password": password})
    if r.status_code != 200:
        raise ApiRefused(f"login {level} {username}: {r.status_code} {r.text[:300]}")
    return Level(http, level, str(r.json()["token"]))


def path_of(entity: str) -> str:
    return ENTITY[entity].path


class Provisioner:
    """Writes configuration through the API, choosing the owner's level and token."""

    def __init__(self, http: httpx.Client, admin: tuple[str, str] = DEMO_ADMIN) -> None:
        self.http = http
        self.platform = login(http, "platform", *admin)
        self._brands: dict[int, Level] = {}
        self._clients: dict[int, Level] = {}
        self._company_brand: dict[int, int] = {}

    # -- levels
    def brand(self, brand_id: int) -> Level:
        if brand_id not in self._brands:
            self._brands[brand_id] = self.platform.exchange("brand", brandId=brand_id)
        return self._brands[brand_id]

    def client(self, company_id: int) -> Level:
        if company_id not in self._clients:
            brand = self.brand_of(company_id)
            self._clients[company_id] = self.brand(brand).exchange("client", clientId=company_id)
        return self._clients[company_id]

    def brand_of(self, company_id: int) -> int:
        if company_id not in self._company_brand:
            # the platform level only lists clients (without their brand): ask each brand
            for b in self.platform.list("brands"):
                if self.brand(int(b["id"])).request("GET", f"companies/{company_id}").status_code == 200:
                    self._company_brand[company_id] = int(b["id"])
                    break
            else:
                raise ApiRefused(f"no brand has client {company_id}")
        return self._company_brand[company_id]

    def level_for(self, entity: str, body: dict[str, Any], op: str = "create") -> Level:
        """The lowest level that serves ``op`` on the entity for the owner named in ``body``
        (``company=`` a client, ``brand=`` a brand, nothing: the platform)."""
        company, brand = _id(body.get("company")), _id(body.get("brand"))
        if company is not None and op in _ops("client", entity) and entity not in _BRAND_WRITES_COMPANY:
            return self.client(company)
        if op in _ops("brand", entity) and (brand is not None or company is not None):
            return self.brand(brand if brand is not None else self.brand_of(company))  # type: ignore[arg-type]
        if op in _ops("platform", entity):
            return self.platform
        raise ApiRefused(f"no level serves {op} of {entity} for {body!r}")

    # -- rows
    def create(self, entity: str, **body: Any) -> int:
        level = self.level_for(entity, body)
        return int(level.post(path_of(entity), _without_owner(level, body))["id"])

    def update(self, entity: str, ident: int, *, owner: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
        """PUT the fields given; ``owner`` (``{"company": id}``) chooses the level as in ``create``."""
        level = self.level_for(entity, owner or body, "update")
        return level.put(f"{path_of(entity)}/{ident}", _without_owner(level, body))

    def delete(self, entity: str, ident: int, *, owner: dict[str, Any] | None = None) -> None:
        level = self.level_for(entity, owner or {}, "delete")
        level.delete(f"{path_of(entity)}/{ident}")


# Resources a client level serves but whose company field a brand sets (none today; kept as
# the one place to say so if the contract grows one).
_BRAND_WRITES_COMPANY: set[str] = set()


def _ops(level: str, entity: str) -> tuple[str, ...]:
    return tuple(EXPOSURE[level].get(entity, {}).get("ops", ()))


def _id(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, dict):
        return int(v["id"])
    return int(v)


def _without_owner(level: Level, body: dict[str, Any]) -> dict[str, Any]:
    """The owner comes from the token at the brand and client levels (IvozProvider ignores it)."""
    drop = {"client": ("company", "brand"), "brand": ("brand",)}.get(level.level, ())
    return {k: v for k, v in body.items() if k not in drop}


__all__ = ["ApiRefused", "Level", "Provisioner", "login", "path_of"]
