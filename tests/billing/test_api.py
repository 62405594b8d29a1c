"""External calls through the API: rerating (spec 8.13.1), external rating
(``PUT /billable_calls/{callid}/rate``), and the client's view of billing details (8.13: price,
rating plan and destination only with *Display billing details to client*)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import update

from polyvox.db.model import ENTITY
from polyvox.workers.billing import bill_pending
from tests.api.conftest import Api
from tests.billing.conftest import Setup, _drg, billable, cdr, company, create, plan, put

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
D = Decimal


def _calls(s: Setup) -> dict[str, int]:
    provider = create(s, "DdiProvider", name="P", description="",
                      transformationRuleSet=company(s.db, s.company).transformationRuleSetId)
    cdr(s.db, callid="r-out", company=s.company, brand=s.brand, callee="+34944048184", duration=60, start=T0,
        carrier=s.carrier)
    cdr(s.db, callid="r-in", company=s.company, brand=s.brand, callee="+34944000111", duration=60, start=T0,
        direction="inbound", provider=provider)
    bill_pending(s.db, T0 + dt.timedelta(minutes=5), send_mail=False)
    return {"out": billable(s.db, "r-out").id, "in": billable(s.db, "r-in").id}


def _other_brand(s: Setup) -> tuple[int, int]:
    """A second brand, created by the global operator, with one client of its own."""
    demo = company(s.db, s.company)
    brand = s.prov.platform.post("brands", {"name": "OtherBrand", "maxCalls": 0, "language": demo.languageId,
                                            "defaultTimezone": demo.defaultTimezoneId, "currency": s.eur})["id"]
    client = s.prov.create("Company", brand=brand, type="vpbx", name="OtherCompany", domainUsers="other.example.com",
                           country=demo.countryId, defaultTimezone=demo.defaultTimezoneId,
                           transformationRuleSet=demo.transformationRuleSetId, maxCalls=0, maxDailyUsage=100,
                           billingMethod="postpaid", allowRecordingRemoval=True, onDemandRecordEmail="disabled")
    return int(brand), client


def _invoiced(s: Setup, billable_call: int, invoice: int | None) -> None:
    """The invoicer's mark on a billed call (runtime state: no API writes it)."""
    t = ENTITY["BillableCall"].table
    with s.db.begin() as c:
        c.execute(update(t).where(t.c.id == billable_call).values(invoiceId=invoice))


def test_rerate_uses_new_rates_with_profiles_active_at_the_call_start(api: Api, tokens: dict[str, str],
                                                                      setup: Setup) -> None:
    s = setup
    ids = _calls(s)
    assert (billable(s.db, "r-out").price, billable(s.db, "r-out").cost) == (D("0.0300"), D("0.0100"))
    # the brand fixes its rates: Spain 0.05/min for the client, 0.02/min for the carrier
    put(s, "DestinationRate", s.rates["Retail+34"], cost=D("0.05"))
    put(s, "DestinationRate", s.rates["Wholesale+34"], cost=D("0.02"))
    # a plan activated after the call must not be used
    late = plan(s, "Later", [_drg(s, "Later", [("+34", "Spain", "9.99", "0", "1s", "0s")])])
    create(s, "RatingProfile", company=s.company, ratingPlanGroup=late, activationTime=dt.datetime(2026, 3, 11))
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": [ids["out"]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "OK"}
    bc = billable(s.db, "r-out")
    assert (bc.price, bc.cost, bc.ratingPlanName, bc.destinationName) == (D("0.0600"), D("0.0200"), "Retail plan",
                                                                         "Spain")
    # form encoding of the contract works too
    put(s, "DestinationRate", s.rates["Retail+34"], cost=D("0.04"))
    r = api.client.post("/api/brand/billable_calls/rerate", data={"billableCallIds[]": [str(ids["out"])]},
                        headers={"Authorization": f"Bearer {tokens['brand']}"})
    assert r.status_code == 200, r.text
    assert billable(s.db, "r-out").price == D("0.0500")


def test_rerate_refusals(api: Api, tokens: dict[str, str], setup: Setup) -> None:
    s = setup
    ids = _calls(s)
    template = create(s, "InvoiceTemplate", name="Plain", template="<p>${invoice.number}</p>")
    invoice = create(s, "Invoice", company=s.company, invoiceTemplate=template, number="F-1", taxRate=21,
                     inDate=dt.datetime(2026, 3, 1), outDate=dt.datetime(2026, 3, 31))
    _invoiced(s, ids["out"], invoice)
    put(s, "DestinationRate", s.rates["Retail+34"], cost=D("0.05"))
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": [ids["out"]]})
    assert r.status_code == 400 and str(ids["out"]) in r.json()["detail"] and "invoice" in r.json()["detail"]
    assert billable(s.db, "r-out").price == D("0.0300")  # unchanged
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": [ids["in"]]})
    assert r.status_code == 400 and str(ids["in"]) in r.json()["detail"]
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": [999999]})
    assert r.status_code == 404 and "999999" in r.json()["detail"]
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": []})
    assert r.status_code == 400
    r = api.post("brand", "/billable_calls/rerate", tokens["brand"], {"billableCallIds": ["x"]})
    assert r.status_code == 400
    # another brand's operator does not see these calls
    other, _ = _other_brand(s)
    _invoiced(s, ids["out"], None)
    r = api.post("brand", "/billable_calls/rerate", s.prov.brand(other).token, {"billableCallIds": [ids["out"]]})
    assert r.status_code == 404
    # not offered at client level
    r = api.post("client", "/billable_calls/rerate", tokens["client"], {"billableCallIds": [ids["out"]]})
    assert r.status_code in (404, 405)


def test_external_rater_sets_price_and_cost(api: Api, tokens: dict[str, str], setup: Setup) -> None:
    s = setup
    _calls(s)
    body = {"price": 1.2345, "cost": "0.5", "destinationName": "Spain fixed", "ratingPlanName": "External"}
    r = api.put("platform", "/billable_calls/r-out/rate", tokens["platform"], body)
    assert r.status_code == 200, r.text
    assert r.json()["price"] == 1.2345 and r.json()["destinationName"] == "Spain fixed"
    bc = billable(s.db, "r-out")
    assert (bc.price, bc.cost, bc.destinationName, bc.ratingPlanName) == (D("1.2345"), D("0.5"), "Spain fixed",
                                                                         "External")
    r = api.put("brand", "/billable_calls/r-out/rate", tokens["brand"], {"price": 2})
    assert r.status_code == 200 and billable(s.db, "r-out").price == D("2")
    r = api.put("brand", "/billable_calls/r-out/rate", tokens["brand"], {"price": "0.12345"})
    assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "price"
    r = api.put("brand", "/billable_calls/r-out/rate", tokens["brand"], {"cost": -1})
    assert r.status_code == 400
    r = api.put("brand", "/billable_calls/r-out/rate", tokens["brand"], {"duration": 3})
    assert r.status_code == 400
    r = api.put("brand", "/billable_calls/r-in/rate", tokens["brand"], {"price": 1})
    assert r.status_code == 404  # inbound calls are not rated
    r = api.put("brand", "/billable_calls/nope/rate", tokens["brand"], {"price": 1})
    assert r.status_code == 404


@pytest.mark.parametrize("shown", [False, True])
def test_client_sees_billing_details_only_when_displayed(api: Api, tokens: dict[str, str], setup: Setup,
                                                         shown: bool) -> None:
    s = setup
    ids = _calls(s)
    put(s, "Company", s.company, showInvoices=shown)
    r = api.get("client", "/billable_calls", tokens["client"])
    assert r.status_code == 200, r.text
    out = next(i for i in r.json() if i["id"] == ids["out"])
    assert "cost" not in out  # never for clients
    assert out["price"] == (0.03 if shown else None)
    item = api.get("client", f"/billable_calls/{ids['out']}", tokens["client"]).json()
    assert item["price"] == (0.03 if shown else None)
    assert "cost" not in item
    csv = api.get("client", "/billable_calls", tokens["client"], headers={"Accept": "text/csv"})
    assert csv.status_code == 200
    assert ("0.03" in csv.text) is shown
    brand_view = api.get("brand", f"/billable_calls/{ids['out']}", tokens["brand"]).json()
    assert (brand_view["price"], brand_view["cost"]) == (0.03, 0.01)


def test_client_item_hides_rating_plan_and_destination_names(api: Api, tokens: dict[str, str],
                                                            setup: Setup) -> None:
    s = setup
    ids = _calls(s)
    put(s, "Company", s.company, showInvoices=False)
    item = api.get("client", f"/billable_calls/{ids['out']}", tokens["client"]).json()
    assert (item["destinationName"], item["ratingPlanName"]) == (None, None)


def test_billable_calls_are_tenant_scoped(api: Api, tokens: dict[str, str], setup: Setup) -> None:
    s = setup
    ids = _calls(s)
    other_brand, other_company = _other_brand(s)
    assert company(s.db, other_company).brandId == other_brand
    cdr(s.db, callid="other-call", company=other_company, brand=other_brand, callee="+34944048184", duration=10,
        start=T0)
    bill_pending(s.db, T0 + dt.timedelta(minutes=5), send_mail=False)
    listed = {i["id"] for i in api.get("brand", "/billable_calls", tokens["brand"]).json()}
    assert ids["out"] in listed and billable(s.db, "other-call").id not in listed
