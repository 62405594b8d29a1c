"""Tokens die with their account (issue 19, item 3): every access and refresh token is bound
to its accounts' token version, checked on every request, and ids are never reused."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import Engine, column, insert, select, table

from polyvox.api.writer import Writer
from polyvox.db.engine import make_engine, upgrade
from polyvox.db.model import ENTITY, TOKEN_VERSION
from tests.api.conftest import Api
from tests.conftest import backend

PASSWORD = "S3cret-pass"


def _admin(api: Api, god: str, username: str, **extra: Any) -> int:
    body = {"username": username, "pass": PASSWORD, "email": f"{username}@example.com", "active": True,
            "restricted": False, "name": username, "lastname": "Op", "canImpersonate": True, **extra}
    r = api.post("platform", "/administrators", god, body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _login(api: Api, level: str, username: str, password: str = PASSWORD) -> dict[str, str]:
    path, key = ("/api/user/user_login", "email") if level == "user" else (f"/api/{level}/admin_login", "username")
    r = api.client.post(path, data={key: username, "password": password})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _refresh(api: Api, level: str, refresh_token: str) -> Any:
    return api.client.post(f"/api/{level}/token/refresh", data={"refresh_token": refresh_token})


def _revoked(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_deleted_brand_operator_tokens_die_and_its_id_is_never_reused(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    old_id = _admin(api, god, "leaving", brand=1)
    issued = _login(api, "brand", "leaving")
    assert api.get("brand", "/companies", issued["token"]).status_code == 200
    assert api.delete("platform", f"/administrators/{old_id}", god).status_code == 204
    # the next administrator would have taken the deleted last row's id on SQLite without AUTOINCREMENT
    new_id = _admin(api, god, "arriving", brand=1)
    assert new_id > old_id
    _revoked(api.get("brand", "/companies", issued["token"]))
    _revoked(_refresh(api, "brand", issued["refresh_token"]))
    _revoked(api.client.post("/api/client/token/exchange", data={"token": issued["token"], "clientId": 1}))
    assert api.get("brand", "/companies", _login(api, "brand", "arriving")["token"]).status_code == 200


def test_an_account_recreated_under_the_same_id_does_not_revive_old_tokens(api: Api, tokens: dict[str, str],
                                                                           db: Engine) -> None:
    """What AUTOINCREMENT cannot prevent (a row written back with its old id, as a restore or an
    import through the write path would): the new row has another token version."""
    god = tokens["platform"]
    ident = _admin(api, god, "phoenix", brand=1)
    issued = _login(api, "brand", "phoenix")
    assert api.delete("platform", f"/administrators/{ident}", god).status_code == 204
    with db.begin() as c:
        Writer(c).create("Administrator", id=ident, username="phoenix", brand=1, active=True, restricted=False,
                         email="phoenix@example.com", canImpersonate=True, **{"pass": PASSWORD})
    _revoked(api.get("brand", "/companies", issued["token"]))
    _revoked(_refresh(api, "brand", issued["refresh_token"]))
    assert api.get("brand", "/companies", _login(api, "brand", "phoenix")["token"]).status_code == 200


def test_deactivation_kills_tokens_for_good(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "paused", brand=1)
    issued = _login(api, "brand", "paused")
    assert api.put("platform", f"/administrators/{ident}", god, {"active": False}).status_code == 200
    _revoked(api.get("brand", "/companies", issued["token"]))
    assert api.put("platform", f"/administrators/{ident}", god, {"active": True}).status_code == 200
    # reactivation does not bring the old tokens back
    _revoked(api.get("brand", "/companies", issued["token"]))
    _revoked(_refresh(api, "brand", issued["refresh_token"]))
    assert api.get("brand", "/companies", _login(api, "brand", "paused")["token"]).status_code == 200


def test_a_new_password_kills_refresh_and_access_tokens(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "rotating", brand=1)
    first, second = _login(api, "brand", "rotating"), _login(api, "brand", "rotating")
    # a new refresh token from the first pair works while the password is unchanged
    renewed = _refresh(api, "brand", first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert api.put("platform", f"/administrators/{ident}", god, {"pass": "N3w-secret-pass"}).status_code == 200
    for pair in (second, renewed.json()):
        _revoked(api.get("brand", "/companies", pair["token"]))
        _revoked(_refresh(api, "brand", pair["refresh_token"]))
    assert api.get("brand", "/companies", _login(api, "brand", "rotating", "N3w-secret-pass")["token"]
                   ).status_code == 200
    # a write that leaves the password as it was ("*****" read back, or nothing) keeps tokens alive
    current = _login(api, "brand", "rotating", "N3w-secret-pass")
    assert api.put("platform", f"/administrators/{ident}", god, {"pass": "*****", "name": "Renamed"}).status_code == 200
    assert api.get("brand", "/companies", current["token"]).status_code == 200
    assert _refresh(api, "brand", current["refresh_token"]).status_code == 200


def test_moving_an_operator_to_another_tenant_kills_its_tokens(api: Api, tokens: dict[str, str]) -> None:
    """The token carries the brand it scopes to: a token of the old brand must not outlive the move."""
    god = tokens["platform"]
    ident = _admin(api, god, "mover", brand=1)
    issued = _login(api, "brand", "mover")
    brand = api.get("platform", "/brands/1", god).json()
    r = api.post("platform", "/brands", god, {
        "name": "OtherBrand", "language": brand["language"], "defaultTimezone": brand["defaultTimezone"],
        "currency": brand["currency"], "maxCalls": 0,
        "invoice": {"nif": "1", "postalAddress": "a", "postalCode": "1", "town": "b", "province": "c", "country": "d"}})
    assert r.status_code == 201, r.text
    assert api.put("platform", f"/administrators/{ident}", god, {"brand": r.json()["id"]}).status_code == 200
    _revoked(api.get("brand", "/companies", issued["token"]))


def test_user_password_change_and_deletion_kill_user_tokens(api: Api, tokens: dict[str, str]) -> None:
    alice = _login(api, "user", "alice@democompany.com", "alice")
    r = api.put("user", "/my/profile", alice["token"], {"pass": "N3w-secret", "oldPass": "alice"})
    assert r.status_code == 200, r.text
    # the request that changed the password was the last one of its token
    _revoked(api.get("user", "/my/profile", alice["token"]))
    _revoked(_refresh(api, "user", alice["refresh_token"]))

    bob = _login(api, "user", "bob@democompany.com", "bob")
    emulated = api.exchange("user", tokens["client"], username="bob@democompany.com")
    assert api.get("user", "/my/profile", emulated).status_code == 200
    bob_id = api.get("user", "/my/profile", bob["token"]).json()["id"]
    assert api.delete("client", f"/users/{bob_id}", tokens["client"]).status_code == 204
    for token in (bob["token"], emulated):
        _revoked(api.get("user", "/my/profile", token))
    _revoked(_refresh(api, "user", bob["refresh_token"]))


def test_exchanged_tokens_die_with_the_administrator_who_started_the_chain(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "deputy")  # a second global operator
    deputy = _login(api, "platform", "deputy")["token"]
    brand_token = api.exchange("brand", deputy, brandId=1)  # the brand's internal administrator
    client_token = api.exchange("client", brand_token, clientId=1)
    user_token = api.exchange("user", client_token, username="alice@democompany.com")
    assert api.get("client", "/users", client_token).status_code == 200
    assert api.delete("platform", f"/administrators/{ident}", god).status_code == 204
    _revoked(api.get("brand", "/companies", brand_token))
    _revoked(api.get("client", "/users", client_token))
    _revoked(api.get("user", "/my/profile", user_token))


def test_self_delete_and_self_deactivation_are_refused(api: Api, tokens: dict[str, str]) -> None:
    """Issue 19 item 10: an administrator that deletes or deactivates itself locks its tenant out."""
    god = tokens["platform"]
    ident = _admin(api, god, "solo", brand=1)
    solo = _login(api, "brand", "solo")["token"]
    r = api.delete("brand", f"/administrators/{ident}", solo)
    assert r.status_code == 400, r.text
    assert "cannot delete itself" in r.json()["detail"]
    r = api.put("brand", f"/administrators/{ident}", solo, {"active": False})
    assert r.status_code == 400, r.text
    assert r.json()["violations"][0]["propertyPath"] == "active"
    assert api.get("brand", "/companies", solo).status_code == 200
    god_id = api.get("platform", "/administrators?username=admin", god).json()[0]["id"]
    assert api.delete("platform", f"/administrators/{god_id}", god).status_code == 400
    # the brand's other operator, or the global operator, may
    assert api.put("brand", f"/administrators/{ident}", tokens["brand"], {"active": False}).status_code == 200
    assert api.delete("platform", f"/administrators/{ident}", god).status_code == 204


def test_the_token_version_is_not_part_of_the_api(api: Api, tokens: dict[str, str], db: Engine) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "quiet", brand=1)
    issued = _login(api, "brand", "quiet")
    item = api.get("platform", f"/administrators/{ident}", god).json()
    assert TOKEN_VERSION not in item
    assert api.put("platform", f"/administrators/{ident}", god, {TOKEN_VERSION: "x" * 32}).status_code == 200
    assert api.get("brand", "/companies", issued["token"]).status_code == 200
    t = ENTITY["Administrator"].table
    with db.connect() as c:
        versions = [v for (v,) in c.execute(select(t.c[TOKEN_VERSION]))]
    assert len(set(versions)) == len(versions) and all(len(v) == 32 for v in versions)


@pytest.mark.skipif(backend() != "sqlite", reason="PostgreSQL sequences never reuse values")
def test_every_sqlite_table_keyed_by_id_is_autoincrement(db: Engine) -> None:
    url = db.url.database
    assert url
    with sqlite3.connect(url) as c:
        tables = list(c.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        missing = [name for name, sql in tables
                   if [r[1] for r in c.execute(f'PRAGMA table_info("{name}")') if r[5]] == ["id"]
                   and "AUTOINCREMENT" not in sql]
    assert missing == []


def test_migration_0005_keeps_rows_ids_and_foreign_keys(empty_url: str) -> None:
    upgrade(empty_url, "0004")
    t = {name: ENTITY[name].table for name in ("Brand", "Company", "Administrator", "User")}
    # the tables as revision 0004 has them (no token version yet)
    cols = {name: [c.name for c in t[name].c if c.name != TOKEN_VERSION] for name in t}
    old = {name: table(t[name].name, *[column(col) for col in cols[name]]) for name in t}

    def add(entity: str, **values: Any) -> int:
        return int(c.execute(insert(old[entity]).values(**values).returning(old[entity].c.id)).scalar_one())

    def rows() -> dict[str, list[tuple[Any, ...]]]:
        return {name: [tuple(r) for r in c.execute(select(old[name]).order_by(old[name].c.id))] for name in t}

    eng = make_engine(empty_url)
    with eng.begin() as c:
        brand, other = add("Brand", name="OldBrand"), add("Brand", name="Kept")
        company = add("Company", name="OldPbx", type="vpbx", brandId=brand)
        admins = [add("Administrator", username=f"old{i}", brandId=brand, active=True) for i in range(3)]
        user = add("User", name="U", companyId=company, email="u@example.com", active=True)
        before = rows()
    upgrade(empty_url)
    with eng.begin() as c:
        assert rows() == before
        a, u = t["Administrator"], t["User"]
        versions = [v for (v,) in c.execute(select(a.c[TOKEN_VERSION]))] + \
            [v for (v,) in c.execute(select(u.c[TOKEN_VERSION]).where(u.c.id == user))]
        assert len(set(versions)) == 4 and all(versions)
        # the last administrator's id is not handed out again
        c.execute(a.delete().where(a.c.id == admins[-1]))
        again = c.execute(insert(a).values(username="new", brandId=other, active=True)).inserted_primary_key[0]
        assert again > admins[-1]
        # foreign keys still hold and still cascade
        c.execute(t["Brand"].delete().where(t["Brand"].c.id == brand))
        assert c.execute(select(a.c.id).where(a.c.id.in_(admins))).all() == []
        assert c.execute(select(u.c.id).where(u.c.id == user)).all() == []
    eng.dispose()
