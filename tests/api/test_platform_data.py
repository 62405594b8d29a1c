"""Spec 9.1.1 platform data and "display billing details to client"."""

from __future__ import annotations

from sqlalchemy import Engine, select

from polyvox.db.model import ENTITY
from tests.api.conftest import Api


def _company_body(api: Api, token: str, name: str) -> dict[str, object]:
    spain = api.get("brand", "/countries?code=ES", token).json()[0]["id"]
    rules = api.get("brand", "/transformation_rule_sets?_itemsPerPage=1", token).json()[0]["id"]
    return {"type": "vpbx", "name": name, "domainUsers": f"{name.lower()}.example.com", "country": spain, "transformationRuleSet": rules, "maxCalls": 0,
            "maxDailyUsage": 100, "billingMethod": "postpaid", "allowRecordingRemoval": True,
            "onDemandRecordEmail": "disabled", "invoicing": {"nif": "X", "postalAddress": "a", "postalCode": "1",
                                                             "town": "t", "province": "p", "countryName": "c"}}


def test_9_1_1_brand_cannot_see_or_choose_platform_data(api: Api, tokens: dict[str, str], db: Engine) -> None:
    body = {**_company_body(api, tokens["brand"], "Acme"), "distributeMethod": "rr", "applicationServerSet": 999}
    r = api.post("brand", "/companies", tokens["brand"], body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["applicationServerSet"] is None and created["mediaRelaySet"] is None
    c = ENTITY["Company"].table
    with db.connect() as conn:
        row = conn.execute(select(c).where(c.c.id == created["id"])).one()
    # the brand's assigned sets were applied, the brand's choice ignored
    assert (row.applicationServerSetId, row.mediaRelaySetId, row.distributeMethod) == (1, 1, "hash")


def test_8_13_billing_details_hidden_from_client_unless_enabled(api: Api, tokens: dict[str, str]) -> None:
    assert api.get("client", "/rating_profiles", tokens["client"]).status_code == 403
    assert api.put("brand", "/companies/1", tokens["brand"], {"showInvoices": True}).status_code == 200
    assert api.get("client", "/rating_profiles", tokens["client"]).status_code == 200


def test_5_1_2_global_operator_emulating_a_brand_sees_and_sets_platform_data(api: Api, tokens: dict[str, str]) -> None:
    emulated = api.exchange("brand", tokens["platform"], brandId=1)
    body = {**_company_body(api, emulated, "Emulated"), "distributeMethod": "rr", "mediaRelaySet": 1}
    r = api.post("brand", "/companies", emulated, body)
    assert r.status_code == 201, r.text
    assert (r.json()["distributeMethod"], r.json()["mediaRelaySet"]) == ("rr", 1)
    # the brand operator itself sees the same client without platform data
    mine = api.get("brand", f"/companies/{r.json()['id']}", tokens["brand"]).json()
    assert mine["distributeMethod"] is None and mine["mediaRelaySet"] is None


def test_8_14_4_application_server_sets_hold_their_servers(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    as2 = api.post("platform", "/application_servers", god, {"name": "as002", "ip": "10.0.0.2"}).json()["id"]
    r = api.post("platform", "/application_server_sets", god, {"name": "big", "distributeMethod": "rr",
                                                                "applicationServers": [1, as2]})
    assert r.status_code == 201, r.text
    assert r.json()["applicationServers"] == [1, as2]
    r = api.put("platform", f"/application_server_sets/{r.json()['id']}", god, {"applicationServers": [as2]})
    assert r.json()["applicationServers"] == [as2]
    bad = api.post("platform", "/application_server_sets", god, {"name": "x", "applicationServers": [999]})
    assert bad.status_code == 400
