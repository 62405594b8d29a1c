"""Holiday date ranges, CSV imports (spec 10.1.3 "Import aliases", holidays, users) and DDI unlinking."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, ident, other_brand, problem, row, rows, set_


def _upload(api: Api, level: str, path: str, token: str, text: str, **fields: str):  # type: ignore[no-untyped-def]
    return api.client.post(f"/api/{level}{path}", files={"csv": ("import.csv", text.encode(), "text/csv")},
                           data=fields, headers={"Authorization": f"Bearer {token}"})


# --------------------------------------------------------------------------------------------- holidays


def test_holiday_dates_range(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    cal = add(db, "Calendar", company=d.company, name="Holidays")
    r = api.post("client", "/holiday_dates_range", tokens["client"],
                 {"name": "Christmas", "wholeDayEvent": 1, "startDate": "2024-12-24", "endDate": "2024-12-26",
                  "calendar": cal})
    assert r.status_code == 201, r.text
    assert [i["eventDate"] for i in r.json()] == ["2024-12-24", "2024-12-25", "2024-12-26"]
    listed = api.get("client", f"/holiday_dates?calendar={cal}", tokens["client"]).json()
    assert [(h["name"], h["wholeDayEvent"]) for h in listed] == [("Christmas", True)] * 3
    r = api.post("client", "/holiday_dates_range", tokens["client"],
                 {"name": "Half day", "wholeDayEvent": 0, "startDate": "2025-01-05", "endDate": "2025-01-05",
                  "timeIn": "08:00", "timeOut": "14:00", "calendar": cal, "routeType": "number",
                  "numberCountry": d.spain, "numberValue": "944000000"})
    assert r.status_code == 201, r.text
    assert (r.json()[0]["timeIn"], r.json()[0]["timeOut"], r.json()[0]["numberValue"]) == \
        ("08:00:00", "14:00:00", "944000000")


def test_holiday_dates_range_bad_input(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    cal = add(db, "Calendar", company=d.company, name="Holidays")
    base = {"name": "X", "wholeDayEvent": 1, "startDate": "2024-12-24", "endDate": "2024-12-26", "calendar": cal}

    def post(**change: object):  # type: ignore[no-untyped-def]
        return api.post("client", "/holiday_dates_range", tokens["client"], {**base, **change})

    problem(post(endDate="2024-12-01"), 400, "endDate")
    problem(post(endDate="2026-12-01"), 400, "endDate")
    problem(post(startDate="24/12/2024x"), 400, "startDate")
    problem(post(name=""), 400, "name")
    problem(post(wholeDayEvent=5), 400, "wholeDayEvent")
    problem(post(wholeDayEvent=0), 400, "timeIn")
    problem(post(wholeDayEvent=0, timeIn="10:00", timeOut="09:00"), 400, "timeOut")
    other = other_brand(db)
    problem(post(calendar=other.calendar), 400, "calendar")
    assert rows(db, "HolidayDate") == []


def test_holiday_mass_import(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    cal = add(db, "Calendar", company=d.company, name="Holidays")
    r = _upload(api, "client", "/holiday_dates/mass_import", tokens["client"],
                "name,date\nChristmas,2024-12-25\n\n\"New year, day 1\",2025-01-01\n", calendar=str(cal))
    assert r.status_code == 201, r.text
    assert r.json() == {"success": True, "errorMsg": "", "failed": 0}
    assert [(h.name, h.eventDate) for h in rows(db, "HolidayDate", calendarId=cal)] == \
        [("Christmas", dt.date(2024, 12, 25)), ("New year, day 1", dt.date(2025, 1, 1))]
    r = _upload(api, "client", "/holiday_dates/mass_import", tokens["client"], "A;2025-05-01\n", calendar=str(cal),
                importerParams='{"delimiter": ";"}')
    assert r.status_code == 201, r.text


def test_holiday_mass_import_is_all_or_nothing(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    cal = add(db, "Calendar", company=d.company, name="Holidays")
    r = _upload(api, "client", "/holiday_dates/mass_import", tokens["client"],
                "Ok,2024-12-25\nBad,31/31/2024\nAlone\n,2024-01-01\n", calendar=str(cal))
    body = problem(r, 400)
    assert [v["propertyPath"] for v in body["violations"]] == ["csv[2]", "csv[3]", "csv[4]"]
    assert body["success"] is False and body["failed"] == 3
    assert body["errorMsg"].startswith("2 => ")
    assert rows(db, "HolidayDate") == []
    problem(api.client.post("/api/client/holiday_dates/mass_import", data={"calendar": str(cal)},
                            headers={"Authorization": f"Bearer {tokens['client']}"}), 400, "csv")
    problem(_upload(api, "client", "/holiday_dates/mass_import", tokens["client"], "A,2025-01-01\n"), 400, "calendar")
    problem(_upload(api, "client", "/holiday_dates/mass_import", tokens["client"], "A,2025-01-01\n", calendar=str(cal),
                    importerParams="{bad"), 400, "importerParams")
    other = other_brand(db)
    problem(_upload(api, "client", "/holiday_dates/mass_import", tokens["client"], "A,2025-01-01\n",
                    calendar=str(other.calendar)), 404)
    assert rows(db, "HolidayDate") == []


# --------------------------------------------------------------------------------------------- extensions


SPEC_EXAMPLE = """Extension,CountryPrefix,Number,CountryCode
200,+34,944048184,ES
201,+34,944048185,ES
202,+34,944048186
203,+1,944048187
204,+1,944048188,US
"""


def test_extension_mass_import_spec_example(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    r = _upload(api, "client", "/extensions/mass_import", tokens["client"], SPEC_EXAMPLE)
    assert r.status_code == 201, r.text
    assert r.json()["success"] is True
    imported = {e.number: e for e in rows(db, "Extension", companyId=d.company) if e.routeType == "number"}
    assert sorted(imported) == ["200", "201", "202", "203", "204"]
    assert (imported["200"].numberCountryId, imported["200"].numberValue) == (d.spain, "944048184")
    assert imported["202"].numberCountryId == d.spain
    plus_one = [c.id for c in rows(db, "Country", countryCode="+1")]
    assert imported["203"].numberCountryId == plus_one[0]  # no code: first country using the prefix
    assert imported["204"].numberCountryId == ident(db, "Country", code="US")
    # an extension that points to a number is updated
    r = _upload(api, "client", "/extensions/mass_import", tokens["client"], "200,+34,944999999,ES\n")
    assert r.status_code == 201
    assert row(db, "Extension", imported["200"].id).numberValue == "944999999"


def test_extension_mass_import_errors(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    text = ("210,+34,944000001,ES\n"  # fine
            "101,+34,944000002,ES\n"  # 101 routes to Alice, not to a number
            "211,+999,944000003\n"  # no such prefix
            "212,+34,944000004,ZZ\n"  # no such country code
            "213,+34,944000005,US\n"  # prefix and code do not match
            "214,+34\n"  # too few columns
            "2,+34,944000006,ES\n")  # extensions have at least 2 digits
    body = problem(_upload(api, "client", "/extensions/mass_import", tokens["client"], text), 400)
    errors = {v["propertyPath"]: v["message"] for v in body["violations"]}
    assert sorted(errors) == ["csv[2]", "csv[3]", "csv[4]", "csv[5]", "csv[6]", "csv[7]"]
    assert "does not point to a number" in errors["csv[2]"]
    assert "prefix +999 does not exist" in errors["csv[3]"]
    assert "code ZZ does not exist" in errors["csv[4]"]
    assert "combination" in errors["csv[5]"]
    assert body["failed"] == 6
    assert [e.number for e in rows(db, "Extension", companyId=d.company)] == ["101", "102"]
    problem(_upload(api, "client", "/extensions/mass_import", tokens["client"], "  \n"), 400, "csv")


# --------------------------------------------------------------------------------------------- users (brand)


def test_users_mass_import(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    maker = add(db, "TerminalManufacturer", iden="yealink", name="Yealink")
    add(db, "TerminalModel", terminalManufacturer=maker, iden="YealinkT21P", name="T21P")
    provider = add(db, "DdiProvider", brand=d.brand, name="Provider1")
    text = ("Carol,Smith,carol@democompany.com,carol,CARoly-1234,YealinkT21P,AA:BB:CC:00:11:22,150,ES,944000111,"
            "Provider1\n"
            "Dave,Jones,,,,,,151,,,\n"
            "Alice,Demo,,,,,,,,,\n")  # existing user: updated, nothing else
    r = _upload(api, "brand", "/users/mass_import", tokens["brand"], text, company=str(d.company))
    assert r.status_code == 201, r.text
    assert r.json() == {"success": True, "errorMsg": "", "failed": 0}
    carol = rows(db, "User", email="carol@democompany.com")[0]
    assert (carol.companyId, carol.name, carol.lastname, carol.active) == (d.company, "Carol", "Smith", False)
    terminal = row(db, "Terminal", carol.terminalId)
    assert (terminal.name, terminal.password, terminal.mac, terminal.companyId) == \
        ("carol", "CARoly-1234", "aabbcc001122", d.company)
    assert terminal.terminalModelId == ident(db, "TerminalModel", iden="YealinkT21P")
    ext = row(db, "Extension", carol.extensionId)
    assert (ext.number, ext.routeType, ext.userId) == ("150", "user", carol.id)
    ddi = row(db, "Ddi", carol.outgoingDdiId)
    assert (ddi.ddi, ddi.ddie164, ddi.companyId, ddi.brandId, ddi.ddiProviderId) == \
        ("944000111", "+34944000111", d.company, d.brand, provider)
    dave = rows(db, "User", name="Dave")[0]
    assert dave.terminalId is None and row(db, "Extension", dave.extensionId).number == "151"
    assert len(rows(db, "User", companyId=d.company)) == 4
    alice = row(db, "User", d.alice)
    assert alice.terminalId == d.alice_terminal and alice.email == "alice@democompany.com"  # empty cells keep values


def test_users_mass_import_errors(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other = other_brand(db)
    bad_columns = "Carol,Smith,carol@x.com\n"
    body = problem(_upload(api, "brand", "/users/mass_import", tokens["brand"], bad_columns, company=str(d.company)),
                   400)
    assert "11 columns" in body["violations"][0]["message"]
    duplicated = "Carol,Smith,,,,,,150,,,\nCarol,Smith,,,,,,151,,,\nEve,X,,,,,,150,,,\n"
    body = problem(_upload(api, "brand", "/users/mass_import", tokens["brand"], duplicated, company=str(d.company)),
                   400)
    assert {v["propertyPath"] for v in body["violations"]} == {"csv[2]", "csv[3]"}
    rowwise = ("Carol,Smith,,carolt,,NoSuchModel,,,,,\n"
               "Dan,X,olga@other.example.com,,,,,,,,\n"
               "Fay,X,,,,,,,ZZ,944000000,\n"
               ",X,,,,,,,,,\n"
               "Hal,X,,halt,,,zz:zz,,,,\n"
               "Gil,X,,,,,,,,911000000,\n")  # the other brand's DDI: DDIs are unique on the platform
    body = problem(_upload(api, "brand", "/users/mass_import", tokens["brand"], rowwise, company=str(d.company)), 400)
    assert [v["propertyPath"] for v in body["violations"]] == ["csv[1]", "csv[2]", "csv[3]", "csv[4]", "csv[5]",
                                                               "csv[6]"]
    assert "unique" in body["violations"][5]["message"]
    assert len(rows(db, "User", companyId=d.company)) == 2 and rows(db, "Terminal", name="carolt") == []
    problem(_upload(api, "brand", "/users/mass_import", tokens["brand"], "A,B,,,,,,,,,\n", company=str(other.company)),
            404)
    problem(_upload(api, "brand", "/users/mass_import", tokens["brand"], "A,B,,,,,,,,,\n"), 400, "company")
    assert len(rows(db, "User", companyId=other.company)) == 1


# --------------------------------------------------------------------------------------------- DDIs


def test_unlink_ddis(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    provider = add(db, "DdiProvider", brand=d.brand, name="Provider1")
    ddi = add(db, "Ddi", brand=d.brand, company=d.company, country=d.spain, ddi="944000000", ddie164="+34944000000",
              type="inout", useDdiProviderRoutingTag=False, routeType="user", user=d.alice, ddiProvider=provider,
              description="main")
    set_(db, "Company", d.company, outgoingDdiId=ddi)
    set_(db, "User", d.alice, outgoingDdiId=ddi)
    r = api.post("brand", "/ddis/unlink", tokens["brand"], [ddi])
    assert r.status_code == 201, r.text
    (new,) = r.json()
    assert new["company"] is None  # (a new row; SQLite may reuse the freed id)
    assert (new["ddi"], new["ddie164"], new["ddiProvider"], new["description"]) == \
        ("944000000", "+34944000000", provider, "main")
    fresh = row(db, "Ddi", new["id"])
    assert fresh.routeType is None and fresh.userId is None
    assert [x.id for x in rows(db, "Ddi", ddi="944000000")] == [new["id"]]
    assert row(db, "Company", d.company).outgoingDdiId is None
    assert row(db, "User", d.alice).outgoingDdiId is None


def test_unlink_ddis_bad_input_and_tenancy(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    mine = add(db, "Ddi", brand=d.brand, company=d.company, country=d.spain, ddi="944000001", type="inout",
               useDdiProviderRoutingTag=False)
    other = other_brand(db)
    problem(api.post("brand", "/ddis/unlink", tokens["brand"], [mine, other.ddi]), 404)
    assert row(db, "Ddi", mine).companyId == d.company  # all or nothing
    assert row(db, "Ddi", other.ddi).companyId == other.company
    problem(api.post("brand", "/ddis/unlink", tokens["brand"], []), 400, "ddiIds")
    problem(api.post("brand", "/ddis/unlink", tokens["brand"], ["x"]), 400, "ddiIds[0]")
    problem(api.post("brand", "/ddis/unlink", tokens["brand"], {"ddiIds": "1"}), 400, "ddiIds")
    r = api.post("brand", "/ddis/unlink", tokens["brand"], {"ddiIds": [mine]})
    assert r.status_code == 201 and r.json()[0]["company"] is None
