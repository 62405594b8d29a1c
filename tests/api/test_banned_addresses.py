"""Banned addresses (spec 8.3 "Antiflood banned IPs", 9.8.5 "IP filter blocked addresses", 9.8.6
"Brute-force attacks"; IvozProvider's ``BannedAddresses``).

The rows are written by proxy-users (``polyvox.sip.repository.Repository.ban``, the very function
its anti brute-force, IP filter and anti-flood code calls) and only read through the API:

- brand level: the brand's rows (IP filter and brute-force), never another brand's;
- platform level: the anti-flood list, i.e. the rows without a brand (IvozProvider's platform
  ``read_access_control`` is ``brand: isNull``);
- brand level ``DELETE /banned_addresses/antibruteforce/{id}`` unblocks a brute-force source
  ("You can unblock any source using green flag button"): the row goes, ``config_version`` is
  bumped, and proxy-users lifts the ban at the next request (docs/sip.md §10.12).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from polyvox.db.model import ENTITY, config_version
from polyvox.sip.repository import Repository
from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import Factory, Tenant, make_tenant

mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens


def _ids(rows: list[dict[str, Any]]) -> set[int]:
    return {int(r["id"]) for r in rows}


def _row_id(db: Engine, ip: str, blocker: str) -> int:
    b = ENTITY["BannedAddress"].table
    with db.connect() as c:
        return int(c.execute(select(b.c.id).where(b.c.ip == ip, b.c.blocker == blocker)).scalar_one())


@pytest.fixture(scope="module")
def world(mod_api: Api, mod_db: Engine, mod_factory: Factory, mod_tokens: dict[str, str]) -> dict[str, Any]:
    """Rows of DemoBrand (DemoCompany's brute-force and IP filter bans), of another brand, and a
    brand-less anti-flood row, written the way proxy-users writes them."""
    other: Tenant = make_tenant(mod_factory)
    c = ENTITY["Company"].table
    with mod_db.connect() as conn:
        demo = conn.execute(select(c.c.id, c.c.brandId).where(c.c.name == "DemoCompany")).one()
    repo = Repository("unused://", engine=mod_db)
    repo.ban(ip="192.0.2.1", aor="alice@127.0.0.1", blocker="antibruteforce", description="100 failed authentications",
             brand_id=demo.brandId, company_id=demo.id)
    repo.ban(ip="192.0.2.2", aor="bob@127.0.0.1", blocker="ipfilter", description="source not in the client's IP filter",
             brand_id=demo.brandId, company_id=demo.id)
    repo.ban(ip="192.0.2.3", aor=f"x@brand{other.brand_id}.test", blocker="antibruteforce",
             description="100 failed authentications", brand_id=other.brand_id)
    repo.ban(ip="192.0.2.4", aor="", blocker="antiflood", description="request flood")
    repo.close()
    return {
        "demo_company": int(demo.id), "demo_brand": int(demo.brandId), "other": other,
        "demo_bf": _row_id(mod_db, "192.0.2.1", "antibruteforce"), "demo_ipf": _row_id(mod_db, "192.0.2.2", "ipfilter"),
        "other_bf": _row_id(mod_db, "192.0.2.3", "antibruteforce"), "flood": _row_id(mod_db, "192.0.2.4", "antiflood"),
    }


def test_brand_lists_its_own_banned_addresses(mod_api: Api, mod_db: Engine, mod_tokens: dict[str, str],
                                             world: dict[str, Any]) -> None:
    brand = mod_tokens["brand"]
    r = mod_api.get("brand", "/banned_addresses", brand)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert _ids(rows) == {world["demo_bf"], world["demo_ipf"]}  # not another brand's, not the brand-less flood row
    by_id = {int(x["id"]): x for x in rows}
    bf = by_id[world["demo_bf"]]
    assert (bf["ip"], bf["blocker"], bf["aor"], bf["company"]) == (
        "192.0.2.1", "antibruteforce", "alice@127.0.0.1", world["demo_company"])
    assert bf["lastTimeBanned"]
    # the portal's two lists are filters of this collection (9.8.5 / 9.8.6)
    r = mod_api.get("brand", "/banned_addresses", brand, params={"blocker": "ipfilter"})
    assert _ids(r.json()) == {world["demo_ipf"]}
    r = mod_api.get("brand", f"/banned_addresses/{world['demo_bf']}", brand)
    assert r.status_code == 200 and r.json()["description"] == "100 failed authentications"
    # another brand's row does not exist for this brand, and the reverse
    assert mod_api.get("brand", f"/banned_addresses/{world['other_bf']}", brand).status_code == 404
    assert mod_api.get("brand", f"/banned_addresses/{world['flood']}", brand).status_code == 404
    other = world["other"].tokens["brand"]
    assert _ids(mod_api.get("brand", "/banned_addresses", other).json()) == {world["other_bf"]}
    assert mod_api.get("brand", f"/banned_addresses/{world['demo_bf']}", other).status_code == 404
    # read-only: rows are written by proxy-users only
    assert mod_api.post("brand", "/banned_addresses", brand, {"ip": "192.0.2.99"}).status_code in (404, 405)
    assert mod_api.put("brand", f"/banned_addresses/{world['demo_bf']}", brand,
                       {"ip": "192.0.2.99"}).status_code in (404, 405)
    # a refreshed ban (same source banned again) updates its row, it does not add one
    repo = Repository("unused://", engine=mod_db)
    repo.ban(ip="192.0.2.1", aor="alice@127.0.0.1", blocker="antibruteforce", description="120 failed authentications",
             brand_id=world["demo_brand"], company_id=world["demo_company"])
    repo.close()
    rows = mod_api.get("brand", "/banned_addresses", brand, params={"blocker": "antibruteforce"}).json()
    assert _ids(rows) == {world["demo_bf"]}
    assert mod_api.get("brand", f"/banned_addresses/{world['demo_bf']}",
                       brand).json()["description"] == "120 failed authentications"


def test_client_level_has_no_banned_addresses(mod_api: Api, mod_tokens: dict[str, str], world: dict[str, Any]) -> None:
    """The 3.4 contract has no client-level BannedAddress resource."""
    assert mod_api.get("client", "/banned_addresses", mod_tokens["client"]).status_code == 404


def test_platform_lists_the_antiflood_addresses(mod_api: Api, mod_tokens: dict[str, str],
                                                world: dict[str, Any]) -> None:
    r = mod_api.get("platform", "/banned_addresses", mod_tokens["platform"])
    assert r.status_code == 200, r.text
    ids = _ids(r.json())
    assert world["flood"] in ids
    assert not ids & {world["demo_bf"], world["demo_ipf"], world["other_bf"]}


def test_platform_sees_the_antiflood_row(mod_api: Api, mod_tokens: dict[str, str], world: dict[str, Any]) -> None:
    r = mod_api.get("platform", "/banned_addresses", mod_tokens["platform"], params={"blocker": "antiflood"})
    assert r.status_code == 200, r.text
    rows = {int(x["id"]): x for x in r.json()}
    assert world["flood"] in rows and rows[world["flood"]]["ip"] == "192.0.2.4"
    assert mod_api.get("platform", f"/banned_addresses/{world['flood']}", mod_tokens["platform"]).status_code == 200


def test_brand_unblocks_a_brute_force_source(mod_api: Api, mod_db: Engine, mod_tokens: dict[str, str],
                                             world: dict[str, Any]) -> None:
    brand, other = mod_tokens["brand"], world["other"].tokens["brand"]
    repo = Repository("unused://", engine=mod_db)
    repo.begin_request()
    assert repo.ban_listed("192.0.2.1", "alice@127.0.0.1", "antibruteforce", 1)
    with mod_db.connect() as c:
        before = c.execute(select(config_version.c.version)).scalar()
    # another brand's row and a row of another mechanism cannot be deleted through this path
    assert mod_api.delete("brand", f"/banned_addresses/antibruteforce/{world['demo_bf']}", other).status_code == 404
    assert mod_api.delete("brand", f"/banned_addresses/antibruteforce/{world['demo_ipf']}", brand).status_code == 404
    r = mod_api.delete("brand", f"/banned_addresses/antibruteforce/{world['demo_bf']}", brand)
    assert r.status_code == 204, r.text
    assert mod_api.get("brand", f"/banned_addresses/{world['demo_bf']}", brand).status_code == 404
    with mod_db.connect() as c:
        assert c.execute(select(config_version.c.version)).scalar() != before
    # what proxy-users sees at its next request: the ban's row is gone, so the ban is lifted
    repo.begin_request()
    assert not repo.ban_listed("192.0.2.1", "alice@127.0.0.1", "antibruteforce", 1)
    repo.close()
