"""Tenancy: a brand, a client, a user never reach another's rows; restricted administrators (spec 19).

Two of each, built through the API: DemoBrand and a second brand (its own operator,
client, client operator and user); DemoCompany and a second client of DemoBrand; Alice and
Bob. For every resource of the level with rows on both sides, each side gets 404 on the
other's row (GET, PUT, DELETE), never finds it in a collection or through a filter, and
still sees its own. Rows only calls produce (CDRs, recordings...) are written straight to
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine

from polyvox.db.model import ENTITY
from polyvox.db.policy import GLOBAL
from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import (
    Factory,
    Tenant,
    assert_problem,
    insert_row,
    make_client,
    make_tenant,
    make_user,
    ops,
    path_of,
    resources,
    unique,
)

# module-scoped application and data (tests/api/factory.py)
mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens


@dataclass
class Side:
    """One tenant as every level sees it."""

    tokens: dict[str, str]
    brand_id: int
    company_id: int
    user_id: int
    email: str = ""
    rows: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class World:
    api: Api
    factory: Factory
    db: Engine
    brand_a: Side
    brand_b: Side
    client_b: Side  # second client of DemoBrand
    bob: Side  # second user of DemoCompany

    def pair(self, level: str) -> tuple[Side, Side]:
        return {"brand": (self.brand_a, self.brand_b), "client": (self.brand_a, self.client_b),
                "user": (self.brand_a, self.bob)}[level]


@pytest.fixture(scope="module")
def world(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str], mod_db: Engine) -> World:
    f, t = mod_factory, mod_tokens
    claims = f.profile("user", t["user"])
    a = Side(dict(t), claims["brand_id"], claims["company_id"], claims["user_id"])
    other: Tenant = make_tenant(f)
    b = Side(other.tokens, other.brand_id, other.company_id, other.user_id, other.user_email)
    company2, ctok2 = make_client(f, t["brand"])
    user2, _email, utok2 = make_user(f, ctok2)
    c2 = Side({**t, "client": ctok2, "user": utok2}, a.brand_id, company2, user2)
    bob_token = f.register("user", mod_api.login("user", "bob@democompany.com", "bob"), t["client"])
    bob_id = f.profile("user", bob_token)["user_id"]
    bob = Side({**t, "user": bob_token}, a.brand_id, a.company_id, bob_id)
    # billing details displayed, so client administrators reach invoices and rating profiles (spec 8.13)
    for side in (a, b, c2):
        r = mod_api.put("brand", f"/companies/{side.company_id}", side.tokens["brand"], {"showInvoices": True})
        assert r.status_code == 200, r.text
    return World(mod_api, f, mod_db, a, b, c2, bob)


# ---------------------------------------------------------------------------------------------
# rows on each side


def _db_row(w: World, side: Side, resource: str) -> int:
    """Rows that calls and workers produce."""
    owner = {"brand": side.brand_id, "company": side.company_id, "user": side.user_id}
    n = unique()
    if resource == "VoicemailMessage":
        vm = insert_row(w.db, "Voicemail", company=side.company_id, user=side.user_id, name=f"vm{n}", enabled=True)
        return insert_row(w.db, "VoicemailMessage", voicemail=vm)
    if resource == "Voicemail":
        return insert_row(w.db, "Voicemail", company=side.company_id, user=side.user_id, name=f"vm{n}", enabled=True)
    if resource == "CallCsvReport":
        sched = w.factory.create("client", "CallCsvScheduler", side.tokens["client"])["id"]
        return insert_row(w.db, "CallCsvReport", callCsvScheduler=sched, **owner)
    if resource in ("BillableCall", "UsersCdr"):
        return insert_row(w.db, resource, callid=f"call-{n}", caller="+34600000000", callee="+34900000000", **owner)
    return insert_row(w.db, resource, **owner)


DB_ROWS = {"BillableCall", "UsersCdr", "Recording", "VoicemailMessage", "CallCsvReport", "BalanceMovement",
           "BannedAddress", "Voicemail"}


def row(w: World, side: Side, level: str, resource: str) -> int:
    """A row of ``resource`` owned by ``side`` at ``level`` (created once per side)."""
    key = (level, resource)
    if key in side.rows:
        return side.rows[key]
    f = w.factory
    if resource == "Brand":
        ident = side.brand_id
    elif resource == "Company":
        ident = side.company_id
    elif resource == "Domain":
        # SIP domains follow the clients' domainUsers
        domain = f"sip{unique()}.example.com"
        company = f.create("brand", "Company", side.tokens["brand"], domainUsers=domain) if level == "brand" else \
            {"id": side.company_id}
        if level == "client":
            r = w.api.put("brand", f"/companies/{side.company_id}", side.tokens["brand"], {"domainUsers": domain})
            assert r.status_code == 200, r.text
        found = _ids(w.api, level, "Domain", side.tokens[level], domain=domain)
        assert found, f"no domain row for company {company['id']}"
        ident = found[0]
    elif resource == "AdministratorRelPublicEntity":
        admin = f.create("brand", "Administrator", side.tokens["brand"], company=side.company_id, restricted=True)
        r = w.api.post("brand", f"/administrators/{admin['id']}/grant_read_only", side.tokens["brand"], None)
        assert r.status_code == 200, r.text
        rel = w.api.get("platform", "/administrator_rel_public_entities", side.tokens["platform"],
                        params={"administrator": admin["id"], "_itemsPerPage": 1}).json()
        ident = rel[0]["id"]
    elif resource in DB_ROWS and (level == "user" or "create" not in ops(level, resource)):
        ident = _db_row(w, side, resource)
    elif resource == "CallForwardSetting" and level == "user":
        ident = f.create("client", resource, side.tokens["client"], user=side.user_id)["id"]
    elif "create" in ops(level, resource):
        ident = f.create(level, resource, side.tokens[level])["id"]
    elif level == "brand" and "create" in ops("client", resource):
        ident = f.create("client", resource, side.tokens["client"])["id"]
    elif level == "client" and "create" in ops("brand", resource):
        ident = f.create("brand", resource, side.tokens["brand"], company=side.company_id)["id"]
    elif "create" in ops("platform", resource):
        ident = f.create("platform", resource, side.tokens["platform"], brand=side.brand_id)["id"]
    else:
        raise AssertionError(f"no way to make a {resource} row for the {level} level")
    side.rows[key] = int(ident)
    return int(ident)


# ---------------------------------------------------------------------------------------------
# the matrix


KNOWN: dict[tuple[str, str], str] = {}
KNOWN_CLIENT_LEAKS: set[str] = set()
NOT_ISOLATABLE = {"Codec"}  # global reference rows


def _matrix() -> list[Any]:
    out = []
    for level in ("brand", "client", "user"):
        for resource in resources(level):
            ent = ENTITY[resource]
            if resource in GLOBAL or resource in NOT_ISOLATABLE:
                continue
            if level == "brand" and ent.brand_path is None:
                continue
            if level == "client" and (ent.company_path is None and resource not in KNOWN_CLIENT_LEAKS):
                continue
            if level == "user" and ent.user_path is None:
                continue
            marks = [pytest.mark.xfail(reason=KNOWN[(level, resource)], strict=True)] if (level, resource) in KNOWN \
                else []
            out.append(pytest.param(level, resource, id=f"{level}-{resource}", marks=marks))
    return out


def _ids(api: Api, level: str, resource: str, token: str, **params: Any) -> list[int]:
    r = api.get(level, path_of(resource), token, params={"_pagination": "false", **params})
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()]


@pytest.mark.parametrize(("level", "resource"), _matrix())
def test_isolation(world: World, level: str, resource: str) -> None:
    api, served, path = world.api, ops(level, resource), path_of(resource)
    one, two = world.pair(level)
    mine, theirs = row(world, one, level, resource), row(world, two, level, resource)
    assert mine != theirs
    for me, own, foreign in ((one, mine, theirs), (two, theirs, mine)):
        tok = me.tokens[level]
        if "list" in served:
            listed = _ids(api, level, resource, tok)
            assert own in listed, f"{level} {resource}: own row {own} missing"
            assert foreign not in listed, f"{level} {resource}: another tenant's row {foreign} listed"
            assert _ids(api, level, resource, tok, id=foreign) == []
            assert _ids(api, level, resource, tok, **{"id[]": [str(foreign), str(own)]}) == [own]
        if "get" in served:
            assert api.get(level, f"{path}/{own}", tok).status_code == 200
            assert_problem(api.get(level, f"{path}/{foreign}", tok), status=404)
        if "update" in served:
            assert_problem(api.put(level, f"{path}/{foreign}", tok, {"name": "hijacked", "description": "x"}),
                           status=404)
        if "delete" in served:
            assert_problem(api.delete(level, f"{path}/{foreign}", tok), status=404)
    # nothing of the other side changed or went away
    for me, own in ((one, mine), (two, theirs)):
        if "get" in served:
            got = api.get(level, f"{path}/{own}", me.tokens[level])
            assert got.status_code == 200 and got.json().get("name") != "hijacked"


def test_isolation_matrix_is_wide() -> None:
    levels = [p.values[0] for p in _matrix()]
    assert levels.count("brand") >= 60 and levels.count("client") >= 60 and levels.count("user") >= 5


def test_user_level_rows_of_another_brand(world: World) -> None:
    """Alice and the other brand's user: call forwards and CDRs stay with their owner."""
    api, a, b = world.api, world.brand_a, world.brand_b
    for resource in ("UsersCdr", "Recording", "CallForwardSetting"):
        mine, theirs = row(world, a, "user", resource), row(world, b, "user", resource)
        path = path_of(resource)
        assert api.get("user", f"{path}/{mine}", a.tokens["user"]).status_code == 200
        assert_problem(api.get("user", f"{path}/{theirs}", a.tokens["user"]), status=404)
        assert_problem(api.get("user", f"{path}/{mine}", b.tokens["user"]), status=404)


def test_references_to_another_brands_rows_are_refused(world: World) -> None:
    """A filter or a write naming another tenant's row never reaches it."""
    api, f, a, b = world.api, world.factory, world.brand_a, world.brand_b
    theirs = row(world, b, "brand", "TransformationRuleSet")
    assert _ids(api, "brand", "Carrier", a.tokens["brand"], transformationRuleSet=theirs) == []
    body = f.body("brand", "Carrier", a.tokens["brand"], transformationRuleSet=theirs)
    assert_problem(f.post("brand", "Carrier", a.tokens["brand"], body), "transformationRuleSet")
    # a client cannot take another client's users into its hunt groups or pick-up groups
    peer = world.client_b.user_id
    for resource in ("PickUpRelUser", "HuntGroupMember", "QueueMember"):
        body = f.body("client", resource, a.tokens["client"], user=peer)
        assert_problem(f.post("client", resource, a.tokens["client"], body), "user")


def test_children_of_shared_rows_cannot_be_created(world: World) -> None:
    api, f, a, b = world.api, world.factory, world.brand_a, world.brand_b
    # rule sets both brands see are the platform's (read-only for brands)
    shared = sorted(set(_ids(api, "brand", "TransformationRuleSet", a.tokens["brand"]))
                    & set(_ids(api, "brand", "TransformationRuleSet", b.tokens["brand"])))
    assert shared, "no platform-wide transformation rule sets"
    assert_problem(api.put("brand", f"/transformation_rule_sets/{shared[0]}", a.tokens["brand"], {"description": "x"}),
                   status=403)
    before = _ids(api, "brand", "TransformationRule", a.tokens["brand"])
    body = f.body("brand", "TransformationRule", a.tokens["brand"], transformationRuleSet=shared[0])
    assert_problem(f.post("brand", "TransformationRule", a.tokens["brand"], body), "transformationRuleSet",
                   status=(400, 403))
    assert _ids(api, "brand", "TransformationRule", a.tokens["brand"]) == before


def test_exchange_into_another_tenant_is_refused(world: World) -> None:
    api, a, b = world.api, world.brand_a, world.brand_b
    r = api.client.post("/api/client/token/exchange", data={"token": a.tokens["brand"], "clientId": b.company_id})
    assert r.status_code == 404
    r = api.client.post("/api/user/token/exchange", data={"token": a.tokens["client"], "username": b.email})
    assert r.status_code == 404
    peer = api.get("client", f"/users/{world.client_b.user_id}", world.client_b.tokens["client"]).json()["email"]
    r = api.client.post("/api/user/token/exchange", data={"token": a.tokens["client"], "username": peer})
    assert r.status_code == 404


# ---------------------------------------------------------------------------------------------
# spec 19 restricted administrators


def _restricted_brand_admin(api: Api, f: Factory, god: str, brand_id: int) -> tuple[int, str]:
    n = unique()
    admin = f.create("platform", "Administrator", god, brand=brand_id, username=f"ro{n}", email=f"ro{n}@example.com",
                     restricted=True, active=True, **{"pass": "S3cret-pass"})
    return int(admin["id"]), api.login("brand", f"ro{n}", "S3cret-pass")


def test_restricted_brand_admin_privileges(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    api, f, op = mod_api, mod_factory, mod_tokens["brand"]
    ident, ro = _restricted_brand_admin(api, f, mod_tokens["platform"], 1)
    carrier = f.create("brand", "Carrier", op)["id"]
    before = f.count("brand", "Carrier", op)
    # spec 19.1: a restricted administrator is (at most) read-only until granted more
    assert_problem(f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op)), status=403)

    # no privileges at all: every endpoint is forbidden
    assert api.post("brand", f"/administrators/{ident}/revoke_all", op, None).status_code == 200
    for path in ("/companies", "/carriers", f"/carriers/{carrier}", "/routing_tags"):
        assert_problem(api.get("brand", path, ro), status=403)
    assert_problem(f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op)), status=403)
    assert_problem(api.put("brand", f"/carriers/{carrier}", ro, {"name": "changed"}), status=403)

    # read-only: list and get, but neither create, update nor delete
    r = api.post("brand", f"/administrators/{ident}/grant_read_only", op, None)
    assert r.status_code == 200, r.text
    assert api.get("brand", "/carriers", ro).status_code == 200
    assert api.get("brand", f"/carriers/{carrier}", ro).json()["id"] == carrier
    assert_problem(f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op)), status=403)
    assert_problem(api.put("brand", f"/carriers/{carrier}", ro, {"name": "changed"}), status=403)
    assert_problem(api.delete("brand", f"/carriers/{carrier}", ro), status=403)
    assert f.count("brand", "Carrier", op) == before
    assert api.get("brand", f"/carriers/{carrier}", op).json()["name"] != "changed"
    profile = api.get("brand", "/my/profile", ro).json()
    assert profile["restricted"] is True
    assert {"iden": "Carrier", "create": False, "read": True, "update": False, "delete": False} in profile["acls"]

    # everything
    assert api.post("brand", f"/administrators/{ident}/grant_all", op, None).status_code == 200
    created = f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op))
    assert created.status_code == 201, created.text
    assert api.put("brand", f"/carriers/{carrier}", ro, {"name": f"by-ro-{unique()}"}).status_code == 200
    assert api.delete("brand", f"/carriers/{created.json()['id']}", ro).status_code == 204
    # a restricted administrator never manages privileges, not even its own
    assert_problem(api.post("brand", f"/administrators/{ident}/revoke_all", ro, None), status=403)

    # revoked: back to nothing
    assert api.post("brand", f"/administrators/{ident}/revoke_all", op, None).status_code == 200
    assert_problem(api.get("brand", "/carriers", ro), status=403)
    assert_problem(api.get("brand", f"/carriers/{carrier}", ro), status=403)
    assert_problem(f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op)), status=403)


def test_unrestricting_an_administrator_gives_full_access(mod_api: Api, mod_factory: Factory,
                                                          mod_tokens: dict[str, str]) -> None:
    """Spec 19.1: a restricted administrator turned non-restricted has full access."""
    api, f, god = mod_api, mod_factory, mod_tokens["platform"]
    ident, ro = _restricted_brand_admin(api, f, god, 1)
    body = f.body("brand", "Carrier", f.tokens["brand"])
    assert_problem(f.post("brand", "Carrier", ro, body), status=403)
    assert api.put("platform", f"/administrators/{ident}", god, {"restricted": False}).status_code == 200
    username = api.get("platform", f"/administrators/{ident}", god).json()["username"]
    fresh = api.login("brand", username, "S3cret-pass")
    assert f.post("brand", "Carrier", fresh, body).status_code == 201


def test_restricting_an_administrator_applies_at_once(mod_api: Api, mod_factory: Factory,
                                                      mod_tokens: dict[str, str]) -> None:
    """Spec 19.1: a non-restricted administrator turned restricted is read-only (at most) from then on."""
    api, f, god = mod_api, mod_factory, mod_tokens["platform"]
    n = unique()
    admin = f.create("platform", "Administrator", god, brand=1, username=f"rw{n}", restricted=False,
                     **{"pass": "S3cret-pass"})
    token = api.login("brand", f"rw{n}", "S3cret-pass")
    assert f.post("brand", "Carrier", token, f.body("brand", "Carrier", token)).status_code == 201
    assert api.put("platform", f"/administrators/{admin['id']}", god, {"restricted": True}).status_code == 200
    before = f.count("brand", "Carrier", mod_tokens["brand"])
    assert_problem(f.post("brand", "Carrier", token, f.body("brand", "Carrier", mod_tokens["brand"])), status=403)
    assert f.count("brand", "Carrier", mod_tokens["brand"]) == before


def test_privileges_cannot_be_granted_across_brands(world: World) -> None:
    api, f, a, b = world.api, world.factory, world.brand_a, world.brand_b
    ident, _ro = _restricted_brand_admin(api, f, a.tokens["platform"], b.brand_id)
    assert_problem(api.post("brand", f"/administrators/{ident}/grant_all", a.tokens["brand"], None), status=404)
    assert api.post("brand", f"/administrators/{ident}/grant_all", b.tokens["brand"], None).status_code == 200


def test_brand_operator_lists_privileges_of_its_restricted_admins(mod_api: Api, mod_factory: Factory,
                                                                  mod_tokens: dict[str, str]) -> None:
    api, f, op = mod_api, mod_factory, mod_tokens["brand"]
    ident, ro = _restricted_brand_admin(api, f, mod_tokens["platform"], 1)
    assert api.post("brand", f"/administrators/{ident}/grant_read_only", op, None).status_code == 200
    rows = api.get("brand", "/administrator_rel_public_entities", op,
                   params={"administrator": ident, "_pagination": "false"}).json()
    assert rows, "no privilege rows listed"
    carrier = next(r for r in rows if api.get("brand", f"/public_entities/{r['publicEntity']}", op)
                   .json()["iden"] == "Carrier")
    # spec 19.1: privileges are fine-tuned per endpoint
    assert api.put("brand", f"/administrator_rel_public_entities/{carrier['id']}", op,
                   {"create": True}).status_code == 200
    assert f.post("brand", "Carrier", ro, f.body("brand", "Carrier", op)).status_code == 201


def test_restricted_client_admin(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    """Spec 19.2: the brand operator restricts a client administrator, endpoint by endpoint."""
    api, f, op = mod_api, mod_factory, mod_tokens["brand"]
    n = unique()
    admin = f.create("brand", "Administrator", op, company=1, username=f"cro{n}", restricted=True,
                     **{"pass": "S3cret-pass"})
    ro = api.login("client", f"cro{n}", "S3cret-pass")
    assert api.post("brand", f"/administrators/{admin['id']}/revoke_all", op, None).status_code == 200
    assert_problem(api.get("client", "/users", ro), status=403)
    assert api.post("brand", f"/administrators/{admin['id']}/grant_read_only", op, None).status_code == 200
    assert {u["email"] for u in api.get("client", "/users", ro).json()} >= {"alice@democompany.com"}
    assert_problem(f.post("client", "Calendar", ro, f.body("client", "Calendar", mod_tokens["client"])), status=403)
    # fine-tuned: create on calendars only
    rows = api.get("brand", "/administrator_rel_public_entities", op,
                   params={"administrator": admin["id"], "_pagination": "false"}).json()
    entities = {x["id"]: x["iden"] for x in api.get("brand", "/public_entities", op,
                                                       params={"_pagination": "false"}).json()}
    cal = next(r for r in rows if entities[r["publicEntity"]] == "Calendar")
    assert api.put("brand", f"/administrator_rel_public_entities/{cal['id']}", op, {"create": True}).status_code == 200
    assert f.post("client", "Calendar", ro, f.body("client", "Calendar", mod_tokens["client"])).status_code == 201
    assert_problem(f.post("client", "Schedule", ro, f.body("client", "Schedule", mod_tokens["client"])), status=403)


def test_client_api_has_no_privilege_actions(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.post("client", "/administrators/1/grant_all", mod_tokens["client"], None)
    assert r.status_code in (404, 405)


def test_new_user_has_own_voicemail(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    user_id, email, token = make_user(mod_factory, mod_tokens["client"])
    vms = mod_api.get("client", "/voicemails", mod_tokens["client"], params={"user": user_id}).json()
    assert len(vms) == 1 and vms[0]["email"] == email
    assert [v["id"] for v in mod_api.get("user", "/voicemails", token).json()] == [vms[0]["id"]]


def test_codecs_reference_data(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    idens = {c["iden"].lower() for c in mod_api.get("brand", "/codecs", mod_tokens["brand"],
                                                     params={"_pagination": "false"}).json()}
    assert {"alaw", "ulaw"} <= idens or {"pcma", "pcmu"} <= idens
