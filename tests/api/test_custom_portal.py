"""Web portal theme and logo of the request host (spec 8.11, 9.7.1) and the dashboards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from polyvox.db.model import stored_files
from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, other_brand, problem

LEVELS = ("platform", "brand", "client", "user")


@pytest.mark.parametrize("level", LEVELS)
def test_default_theme_and_logo_without_token(api: Api, level: str) -> None:
    r = api.get(level, "/my/theme", None)
    assert r.status_code == 200
    theme = r.json()
    assert theme["name"] == "Polyvox" and theme["productName"] == "Polyvox" and theme["color"]
    assert theme["logo"] == f"http://testserver/api/{level}/my/logo/0/polyvox.svg"
    logo = api.get(level, "/my/logo/0/polyvox.svg", None)
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")
    problem(api.get(level, "/my/logo/0/other.svg", None), 404)


def test_portal_of_the_host(api: Api, db: Engine) -> None:
    d = demo(db)
    portal = add(db, "WebPortal", brand=d.brand, url="https://testserver", urlType="brand", name="Acme portal",
                 color="#FF0000", productName="AcmeVoice", logo={"baseName": "acme logo.png", "mimeType": "image/png",
                                                                 "fileSize": 4})
    add(db, "WebPortal", brand=d.brand, url="https://elsewhere.example.com", urlType="admin", name="Other host")
    theme = api.get("brand", "/my/theme", None).json()
    assert theme == {"name": "Acme portal", "title": "Acme portal", "color": "#FF0000", "productName": "AcmeVoice",
                     "logo": f"http://testserver/api/brand/my/logo/{portal}/acme%20logo.png"}
    # the client portal of this host is not configured: defaults
    assert api.get("client", "/my/theme", None).json()["name"] == "Polyvox"
    problem(api.get("brand", f"/my/logo/{portal}/acme%20logo.png", None), 404)  # no file stored yet
    with db.begin() as c:
        c.execute(stored_files.insert().values(entity="WebPortal", rowId=portal, field="logo", content=b"\x89PNG"))
    r = api.get("brand", f"/my/logo/{portal}/acme%20logo.png", None)
    assert r.status_code == 200 and r.content == b"\x89PNG" and r.headers["content-type"] == "image/png"
    problem(api.get("brand", f"/my/logo/{portal}/other.png", None), 404)
    problem(api.get("brand", f"/my/logo/{portal + 1}/acme%20logo.png", None), 404)
    problem(api.get("client", f"/my/logo/{portal}/acme%20logo.png", None), 404)


def test_platform_dashboard(api: Api, tokens: dict[str, str], db: Engine) -> None:
    other_brand(db)
    r = api.get("platform", "/my/dashboard", tokens["platform"])
    assert r.status_code == 200
    dash = r.json()
    assert dash["admin"]["username"] == "admin" and dash["admin"]["name"] == "Global"
    assert (dash["brandNumber"], dash["clientNumber"], dash["userNumber"]) == (2, 2, 3)
    assert [b["name"] for b in dash["recentActivity"]] == ["OtherBrand", "DemoBrand"]
    assert set(dash["recentActivity"][1]) == {"id", "name", "nif", "postalCode", "sipDomain", "maxCalls"}
    assert dash["productName"] == "Polyvox"


def test_brand_dashboard_counts_only_the_brand(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other_brand(db)
    add(db, "Carrier", brand=d.brand, name="C1", calculateCost=False)
    add(db, "Ddi", brand=d.brand, country=d.spain, ddi="944000000", type="inout", useDdiProviderRoutingTag=False)
    add(db, "WebPortal", brand=d.brand, url="https://testserver", urlType="brand", name="Acme", productName="Acme")
    dash = api.get("brand", "/my/dashboard", tokens["brand"]).json()
    assert dash["brand"]["name"] == "DemoBrand" and dash["brand"]["nif"] == "12345678A"
    assert (dash["clientNum"], dash["ddiNum"], dash["carrierNum"]) == (1, 1, 1)
    assert dash["recentActivity"] == [{"name": "DemoCompany", "type": "vpbx", "domainUsers": "127.0.0.1",
                                       "maxCalls": 0}]
    assert dash["productName"] == "Acme"
    assert api.get("brand", "/my/dashboard", None).status_code == 401
    assert api.get("brand", "/my/dashboard", tokens["client"]).status_code == 403


def test_client_dashboard(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other_brand(db)
    add(db, "BillableCall", brand=d.brand, company=d.company, caller="101", callee="+34944000000",
        duration=Decimal("42"), startTime=dt.datetime(2024, 5, 1, 10, 0, 0))
    add(db, "Voicemail", company=d.company, name="Sales", enabled=True, sendMail=False, attachSound=False)
    dash = api.get("client", "/my/dashboard", tokens["client"]).json()
    assert dash["client"] == {"name": "DemoCompany", "nif": "87654321B", "postalCode": "48002",
                              "domainUsers": "127.0.0.1", "maxCalls": 0}
    assert (dash["userNum"], dash["extensionNum"], dash["ddiNum"], dash["voiceMailNum"],
            dash["residentialDeviceNum"], dash["retailsAccountNum"]) == (2, 2, 0, 3, 0, 0)  # Alice, Bob (10.1.11), Sales
    assert dash["latestUsers"][0] == {"name": "Bob", "lastName": "Demo", "extension": "102", "outgoingDdi": ""}
    # stored in UTC, shown in the client administrator's timezone (Europe/Madrid, UTC+2 in May)
    assert dash["latestBillableCalls"] == [{"startTime": "2024-05-01 12:00:00", "caller": "101",
                                            "callee": "+34944000000", "duration": 42.0}]
    assert dash["latestResidentialDevices"] == [] and dash["latestRetailAccounts"] == []


def test_user_dashboard(api: Api, tokens: dict[str, str], db: Engine) -> None:
    dash = api.get("user", "/my/dashboard", tokens["user"]).json()
    assert dash == {"userName": "Alice", "userLastName": "Demo", "extension": "101", "terminal": "alice",
                    "email": "alice@democompany.com", "outgoingDdi": "", "productName": "Polyvox"}
