"""*/unassigned, users_available and users/detailed: what the portals offer for assignment."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, ident, other_brand, problem, restricted_brand_admin, set_


def no_service_codes(db: Engine, brand: int, company: int) -> None:
    """A brand gets every service code at creation and a vPBX client its brand's (IvozProvider
    BrandService/UpdateByBrand, CompanyService/PropagateBrandServices): start without them."""
    from polyvox.db.model import ENTITY

    bs, cs = ENTITY["BrandService"].table, ENTITY["CompanyService"].table
    with db.begin() as conn:
        conn.execute(bs.delete().where(bs.c.brandId == brand))
        conn.execute(cs.delete().where(cs.c.companyId == company))


def _ids(r) -> list[int]:  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()]


def test_brand_services_unassigned_hides_services_with_a_brand_code(api: Api, tokens: dict[str, str],
                                                                     db: Engine) -> None:
    d = demo(db)
    no_service_codes(db, d.brand, d.company)
    voicemail, pickup = ident(db, "Service", iden="Voicemail"), ident(db, "Service", iden="DirectPickUp")
    before = _ids(api.get("brand", "/services/unassigned", tokens["brand"]))
    assert voicemail in before and pickup in before
    add(db, "BrandService", brand=d.brand, service=voicemail, code="55")
    r = api.get("brand", "/services/unassigned", tokens["brand"])
    after = _ids(r)
    assert voicemail not in after and pickup in after
    assert r.headers["X-Total-Items"] == str(len(before) - 1)
    assert {"id", "iden", "defaultCode", "extraArgs", "name", "description"} <= set(r.json()[0])
    assert voicemail in _ids(api.get("brand", f"/services/unassigned?_includeId={voicemail}", tokens["brand"]))
    # another brand's codes do not matter
    other = other_brand(db)
    add(db, "BrandService", brand=other.brand, service=pickup, code="66")
    assert pickup in _ids(api.get("brand", "/services/unassigned", tokens["brand"]))


def test_services_unassigned_bad_include_id(api: Api, tokens: dict[str, str]) -> None:
    problem(api.get("brand", "/services/unassigned?_includeId=abc", tokens["brand"]), 400, "_includeId")
    assert api.get("brand", "/services/unassigned", None).status_code == 401


def test_client_services_unassigned_offers_brand_services_without_client_code(api: Api, tokens: dict[str, str],
                                                                              db: Engine) -> None:
    d = demo(db)
    no_service_codes(db, d.brand, d.company)
    voicemail, pickup = ident(db, "Service", iden="Voicemail"), ident(db, "Service", iden="DirectPickUp")
    group = ident(db, "Service", iden="GroupPickUp")
    add(db, "BrandService", brand=d.brand, service=voicemail, code="55")
    add(db, "BrandService", brand=d.brand, service=pickup, code="56")
    add(db, "CompanyService", company=d.company, service=pickup, code="77")
    assert _ids(api.get("client", "/services/unassigned", tokens["client"])) == [voicemail]
    assert sorted(_ids(api.get("client", f"/services/unassigned?_includeId={pickup}", tokens["client"]))) == \
        sorted([voicemail, pickup])
    assert group not in _ids(api.get("client", f"/services/unassigned?_includeId={group}", tokens["client"]))


def _corporation(db: Engine, brand: int, names: list[str]) -> tuple[int, list[int]]:
    corp = add(db, "Corporation", brand=brand, name="Corp")
    spain = ident(db, "Country", code="ES")
    ids = [add(db, "Company", type="vpbx", name=n, brand=brand, country=spain, corporation=corp, maxCalls=0,
               maxDailyUsage=1, billingMethod="postpaid") for n in names]
    return corp, ids


def test_brand_corporate_unassigned(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    _corp, (a, b, c) = _corporation(db, d.brand, ["A", "B", "C"])
    add(db, "Friend", company=a, interCompany=b, name="a-to-b", directConnectivity="intervpbx", priority=1)
    # without _companyId: the brand's clients outside any corporation
    assert _ids(api.get("brand", "/companies/corporate/unassigned", tokens["brand"])) == [d.company]
    assert sorted(_ids(api.get("brand", f"/companies/corporate/unassigned?_includeId={a}", tokens["brand"]))) == \
        sorted([d.company, a])
    # partners of A not yet linked to it
    r = api.get("brand", f"/companies/corporate/unassigned?_companyId={a}", tokens["brand"])
    assert _ids(r) == [c]
    assert r.json()[0]["name"] == "C" and "corporation" in r.json()[0]
    assert sorted(_ids(api.get("brand", f"/companies/corporate/unassigned?_companyId={a}&_includeId={b}",
                               tokens["brand"]))) == [b, c]
    problem(api.get("brand", f"/companies/corporate/unassigned?_companyId={d.company}", tokens["brand"]), 400,
            "_companyId")
    other = other_brand(db)
    problem(api.get("brand", f"/companies/corporate/unassigned?_companyId={other.company}", tokens["brand"]), 404)
    assert other.company not in _ids(api.get("brand", "/companies/corporate/unassigned", tokens["brand"]))


def test_client_corporate_unassigned_lists_partners_without_private_data(api: Api, tokens: dict[str, str],
                                                                         db: Engine) -> None:
    d = demo(db)
    assert _ids(api.get("client", "/companies/corporate/unassigned", tokens["client"])) == []
    corp, (a, b) = _corporation(db, d.brand, ["A", "B"])
    set_(db, "Company", d.company, corporationId=corp)
    add(db, "Friend", company=d.company, interCompany=a, name="to-a", directConnectivity="intervpbx", priority=1)
    r = api.get("client", "/companies/corporate/unassigned", tokens["client"])
    assert _ids(r) == [b]
    assert "balance" not in r.json()[0] and "invoicing" not in r.json()[0]
    assert r.json()[0]["name"] == "B"
    # what is not shown cannot be probed with filters either
    problem(api.get("client", "/companies/corporate/unassigned?balance[gt]=0", tokens["client"]), 400, "balance[gt]")
    problem(api.get("client", "/companies/corporate/unassigned?_order[balance]=ASC", tokens["client"]), 400)
    assert _ids(api.get("client", "/companies/corporate/unassigned?name=B", tokens["client"])) == [b]


def test_extensions_unassigned(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    free = add(db, "Extension", company=d.company, number="200")
    assert _ids(api.get("client", "/extensions/unassigned", tokens["client"])) == [free]
    assert _ids(api.get("client", f"/extensions/unassigned?_includeId={d.alice_ext}", tokens["client"])) == \
        [d.alice_ext, free]
    assert _ids(api.get("client", f"/extensions/unassigned?_userId={d.bob}", tokens["client"])) == [d.bob_ext, free]
    other = other_brand(db)
    assert _ids(api.get("client", f"/extensions/unassigned?_includeId={other.extension}", tokens["client"])) == [free]
    problem(api.get("client", "/extensions/unassigned?_userId=x", tokens["client"]), 400, "_userId")


def test_terminals_unassigned(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    assert _ids(api.get("client", "/terminals/unassigned", tokens["client"])) == []
    domain = ident(db, "Domain", company=d.company)
    spare = add(db, "Terminal", company=d.company, domain=domain, name="spare", password="Sp4re-pass",
                disallow="all", allowAudio="alaw", directMediaMethod="update", t38Passthrough="no",
                rtpEncryption=False)
    r = api.get("client", "/terminals/unassigned", tokens["client"])
    assert _ids(r) == [spare] and r.json()[0]["name"] == "spare"
    assert _ids(api.get("client", f"/terminals/unassigned?_includeId={d.alice_terminal}", tokens["client"])) == \
        [d.alice_terminal, spare]
    problem(api.get("client", "/terminals/unassigned?_includeId=1.5", tokens["client"]), 400, "_includeId")


def test_users_detailed(api: Api, tokens: dict[str, str], db: Engine) -> None:
    other_brand(db)
    r = api.get("client", "/users/detailed", tokens["client"])
    assert r.status_code == 200
    users = r.json()
    assert [u["name"] for u in users] == ["Alice", "Bob"]
    alice = users[0]
    assert alice["terminal"]["name"] == "alice"  # relations expanded
    assert alice["extension"]["number"] == "101"
    assert alice["pass"] == "*****"
    assert [u["name"] for u in api.get("client", "/users/detailed?name=Bob", tokens["client"]).json()] == ["Bob"]
    assert api.get("client", "/users/detailed?_page=2&_itemsPerPage=1", tokens["client"]).json()[0]["name"] == "Bob"
    problem(api.get("client", "/users/detailed?nosuchfield=1", tokens["client"]), 400)
    problem(api.get("client", "/users/detailed?pass[start]=$2b", tokens["client"]), 400, "pass[start]")


def test_hunt_group_users_available(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    hg = add(db, "HuntGroup", company=d.company, name="Sales", strategy="ringAll", ringAllTimeout=10)
    add(db, "HuntGroupMember", huntGroup=hg, user=d.alice, routeType="user", priority=1, timeoutTime=10)
    assert _ids(api.get("client", f"/hunt_groups/{hg}/users_available", tokens["client"])) == [d.bob]
    assert _ids(api.get("client", f"/hunt_groups/{hg}/users_available?_includeId={d.alice}", tokens["client"])) == \
        [d.alice, d.bob]
    other = other_brand(db)
    problem(api.get("client", f"/hunt_groups/{other.hunt_group}/users_available", tokens["client"]), 404)
    problem(api.get("client", "/hunt_groups/abc/users_available", tokens["client"]), 404)
    assert other.user not in _ids(api.get("client", f"/hunt_groups/{hg}/users_available", tokens["client"]))


def test_restricted_admin_needs_read_privilege(api: Api, db: Engine) -> None:
    d = demo(db)
    token = restricted_brand_admin(api, db, d.brand)
    assert api.get("brand", "/services/unassigned", token).status_code == 200
    from polyvox.api.actions import set_privileges

    with db.begin() as c:
        set_privileges(c, ident(db, "Administrator", username="restricted"), "brand", (False, False, False, False))
    problem(api.get("brand", "/services/unassigned", token), 403)
