"""Clients (rules.companies): IvozProvider's Company sanitizeValues, SanitizeBillingMethod,
PropagateBrandServices and FeaturesRelCompany/CheckValidity."""

from __future__ import annotations

from typing import Any

from tests.api.factory import Factory, make_tenant
from tests.api.write_path.conftest import W


def company_body(w: W, **body: Any) -> dict[str, Any]:
    n = w.n()
    rules = w.api.get("brand", "/transformation_rule_sets", w.tok("brand"), params={"_itemsPerPage": 1}).json()
    return {"type": "vpbx", "name": f"Client{n}", "domainUsers": f"client{n}.example.com", "country": w.country(),
            "transformationRuleSet": rules[0]["id"], "maxCalls": 0, "maxDailyUsage": 100, "billingMethod": "postpaid",
            "allowRecordingRemoval": True, "onDemandRecordEmail": "disabled", **body}


def test_nested_objects_filled_from_the_brand(w: W) -> None:
    """Spec 8.1 "Locales": language, timezone and currency default to the brand's."""
    c = w.create("/companies", "brand", **company_body(w))
    got = w.get("/companies", c["id"], "brand")
    brand = w.get("/brands", 1, "brand")
    assert got is not None and brand is not None
    for name in ("language", "defaultTimezone", "currency", "country", "transformationRuleSet"):
        assert got[name] is not None, name
    for name in ("language", "defaultTimezone", "currency"):
        assert got[name]["id"] == (brand[name]["id"] if isinstance(brand[name], dict) else brand[name]), name


def test_vpbx_needs_its_domain(w: W) -> None:
    w.refused("/companies", "domainUsers", "brand", **company_body(w, domainUsers=""))
    w.refused("/companies", "domainUsers", "brand", **company_body(w, domainUsers="   "))
    retail = w.create("/companies", "brand", **company_body(w, type="retail", domainUsers=None))
    assert retail["id"]


def test_on_demand_record_only_vpbx_and_residential(w: W) -> None:
    w.refused("/companies", "onDemandRecord", "brand", **company_body(w, type="retail", onDemandRecord=1))
    c = w.create("/companies", "brand", **company_body(w, type="residential", onDemandRecord=1,
                                                        onDemandRecordCode="11"))
    assert c["onDemandRecord"] == 1
    w.refused("/companies", "onDemandRecordCode", "brand", **company_body(w, onDemandRecordCode="1a"))


def test_corporation_only_vpbx(w: W) -> None:
    corp = w.create("/corporations", "brand", name=f"corp{w.n()}")
    w.refused("/companies", "corporation", "brand", **company_body(w, type="retail", corporation=corp["id"]))
    c = w.create("/companies", "brand", **company_body(w, corporation=corp["id"]))
    got = w.get("/companies", c["id"], "brand")
    assert got is not None and got["corporation"]["id"] == corp["id"]


def test_billing_method_needs_the_brands_billing_feature(w: W) -> None:
    """Company/SanitizeBillingMethod: a brand without billing has clients without billing."""
    tenant = make_tenant(Factory(w.api, w.tokens))
    r = w.api.get("brand", f"/companies/{tenant.company_id}", tenant.tokens["brand"])
    assert r.json()["billingMethod"] == "none"
    c = w.create("/companies", "brand", **company_body(w, billingMethod="prepaid"))
    assert c["billingMethod"] == "prepaid"  # the demo brand has billing


def test_new_vpbx_inherits_the_brand_services(w: W) -> None:
    """CompanyService/PropagateBrandServices: the vPBX services of the brand, with its codes."""
    c = w.create("/companies", "brand", **company_body(w))
    brand = {(s["service"]["id"] if isinstance(s["service"], dict) else s["service"]): s["code"]
             for s in w.api.get("brand", "/brand_services", w.tok("brand"), params={"_pagination": "false"}).json()}
    from sqlalchemy import select

    from polyvox.db.model import ENTITY

    cs, s = ENTITY["CompanyService"].table, ENTITY["Service"].table
    with w.db.connect() as conn:
        rows = conn.execute(select(cs.c.serviceId, cs.c.code, s.c.iden).join(s, s.c.id == cs.c.serviceId)
                            .where(cs.c.companyId == c["id"])).all()
    assert rows and {r.iden for r in rows} <= {"DirectPickUp", "GroupPickUp", "Voicemail", "RecordLocution",
                                                 "CloseLock", "OpenLock", "ToggleLock", "QueuePause", "QueueUnpause"}
    assert all(brand[r.serviceId] == r.code for r in rows)
    retail = w.create("/companies", "brand", **company_body(w, type="retail"))
    with w.db.connect() as conn:
        assert conn.execute(select(cs.c.id).where(cs.c.companyId == retail["id"])).first() is None


def test_operator_panel_only_for_vpbx(w: W) -> None:
    features = {f["iden"]: f["id"] for f in w.api.get("brand", "/features", w.tok("brand"),
                                                      params={"_pagination": "false"}).json()}
    w.refused("/companies", "featureIds", "brand",
              **company_body(w, type="retail", featureIds=[features["operatorPanel"]]))
    c = w.create("/companies", "brand", **company_body(w, featureIds=[features["operatorPanel"]]))
    assert c["id"]


def test_features_of_the_brand_only(w: W) -> None:
    tenant = make_tenant(Factory(w.api, w.tokens))  # a brand without features
    r = w.api.put("brand", f"/companies/{tenant.company_id}", tenant.tokens["brand"], {"featureIds": [1]})
    assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "featureIds", r.text


def test_generic_rule_set_of_the_country_by_default(w: W) -> None:
    """A client written without a numeric transformation (CLI, seeding) gets its country's."""
    from polyvox.api.writer import Writer

    with w.db.begin() as conn:
        cid = Writer(conn).create("Company", type="retail", name=f"cli{w.n()}", brand=1, country=w.country(),
                                  maxCalls=0, maxDailyUsage=10, billingMethod="none", allowRecordingRemoval=True,
                                  onDemandRecordEmail="disabled")
    row = w.row("Company", cid)
    assert row is not None and row["transformationRuleSetId"] is not None
