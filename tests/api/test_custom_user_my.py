"""The final user's own operations (/my/* of the user API)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.api.test_custom_support import add, demo, ident, other_brand, problem, row, rows, set_


def test_profile(api: Api, tokens: dict[str, str], db: Engine) -> None:
    r = api.get("user", "/my/profile", tokens["user"])
    assert r.status_code == 200
    me = r.json()
    assert (me["name"], me["lastname"], me["email"], me["doNotDisturb"], me["isBoss"], me["maxCalls"]) == \
        ("Alice", "Demo", "alice@democompany.com", False, False, 0)
    assert me["timezone"]["tz"] == "Europe/Madrid" and me["bossAssistant"] is None
    assert "pass" not in me
    assert api.get("user", "/my/profile", tokens["client"]).status_code == 403
    assert api.get("user", "/my/profile", None).status_code == 401


def test_update_profile(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    lisbon = ident(db, "Timezone", tz="Europe/Lisbon")
    r = api.put("user", "/my/profile", tokens["user"], {"name": "Alicia", "doNotDisturb": True, "isBoss": True,
                                                        "bossAssistant": d.bob, "timezone": lisbon})
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["name"], me["doNotDisturb"], me["isBoss"]) == ("Alicia", True, True)
    assert me["bossAssistant"]["id"] == d.bob and me["bossAssistant"]["name"] == "Bob"
    assert "pass" not in me["bossAssistant"]
    assert me["timezone"]["tz"] == "Europe/Lisbon"
    r = api.put("user", "/my/profile", tokens["user"], {"bossAssistant": None})
    assert r.json()["bossAssistant"] is None and row(db, "User", d.alice).bossAssistantId is None


def test_update_profile_bad_input(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other = other_brand(db)
    put = lambda body: api.put("user", "/my/profile", tokens["user"], body)  # noqa: E731
    problem(put({"bossAssistant": other.user}), 400, "bossAssistant")
    problem(put({"bossAssistant": d.alice}), 400, "bossAssistant")
    problem(put({"email": "not-an-email"}), 400, "email")
    problem(put({"email": "bob@democompany.com"}), 400, "email")
    problem(put({"maxCalls": "many"}), 400, "maxCalls")
    problem(put({"name": ""}), 400, "name")
    problem(put({"timezone": 999999}), 400, "timezone")
    problem(put(["x"]), 400)
    assert row(db, "User", d.alice).name == "Alice"


def test_change_password_needs_the_old_one(api: Api, tokens: dict[str, str], db: Engine) -> None:
    put = lambda body: api.put("user", "/my/profile", tokens["user"], body)  # noqa: E731
    problem(put({"pass": "N3w-secret"}), 400, "oldPass")
    problem(put({"pass": "N3w-secret", "oldPass": "wrong"}), 400, "oldPass")
    assert api.login("user", "alice@democompany.com", "alice")
    r = put({"pass": "N3w-secret", "oldPass": "alice"})
    assert r.status_code == 200, r.text
    assert api.login("user", "alice@democompany.com", "N3w-secret")
    refused = api.client.post("/api/user/user_login", data={"email": "alice@democompany.com", "password": "alice"})
    assert refused.status_code == 401


def test_call_forward_settings(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    add(db, "CallForwardSetting", company=d.company, user=d.bob, callTypeFilter="both", callForwardType="busy",
        targetType="number", numberValue="600000000", noAnswerTimeout=10, enabled=True)
    assert api.get("user", "/my/call_forward_settings", tokens["user"]).json() == []
    r = api.post("user", "/my/call_forward_settings", tokens["user"],
                 {"callTypeFilter": "both", "callForwardType": "noAnswer", "targetType": "extension",
                  "extension": d.bob_ext, "noAnswerTimeout": 15, "enabled": True, "user": d.bob})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["user"] == d.alice and created["extension"] == d.bob_ext  # always the caller's own
    listed = api.get("user", "/my/call_forward_settings", tokens["user"])
    assert listed.headers["X-Total-Items"] == "1"
    (cfw,) = listed.json()
    assert cfw["extension"]["number"] == "102" and cfw["user"]["name"] == "Alice" and "pass" not in cfw["user"]
    assert api.get("user", "/my/call_forward_settings?callForwardType=busy", tokens["user"]).json() == []
    assert rows(db, "CallForwardSetting", userId=d.alice)[0].companyId == d.company


def test_call_forward_settings_bad_input(api: Api, tokens: dict[str, str], db: Engine) -> None:
    other = other_brand(db)
    base = {"callTypeFilter": "both", "callForwardType": "noAnswer", "targetType": "extension",
            "noAnswerTimeout": 15, "enabled": True}
    problem(api.post("user", "/my/call_forward_settings", tokens["user"], {**base, "extension": other.extension}),
            400, "extension")
    problem(api.post("user", "/my/call_forward_settings", tokens["user"], {**base, "callTypeFilter": "sometimes"}),
            400, "callTypeFilter")
    problem(api.post("user", "/my/call_forward_settings", tokens["user"], {"enabled": True}), 400)
    problem(api.get("user", "/my/call_forward_settings?noAnswerTimeout=abc", tokens["user"]), 400)
    assert rows(db, "CallForwardSetting") == []


def test_company_lists(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    other_brand(db)
    r = api.get("user", "/my/company_assistants", tokens["user"])
    assert [u["name"] for u in r.json()] == ["Bob"] and "pass" not in r.json()[0]
    problem(api.get("user", "/my/company_assistants?pass[start]=$2b", tokens["user"]), 400, "pass[start]")
    set_(db, "User", d.bob, isBoss=True)
    assert api.get("user", "/my/company_assistants", tokens["user"]).json() == []
    assert api.get("user", "/my/company_country", tokens["user"]).json()["code"] == "ES"
    exts = api.get("user", "/my/company_extensions?_itemsPerPage=1&_page=2", tokens["user"])
    assert [e["number"] for e in exts.json()] == ["102"] and exts.headers["X-Total-Items"] == "2"
    add(db, "Voicemail", company=d.company, name="Sales", enabled=True, sendMail=False, attachSound=False)
    add(db, "Voicemail", company=d.company, name="Off", enabled=False, sendMail=False, attachSound=False)
    # enabled voicemails of the client: the users' own (spec 10.1.11) and Sales, not the disabled one
    names = [v["name"] for v in api.get("user", "/my/company_voicemails", tokens["user"]).json()]
    assert sorted(names) == ["Alice Demo", "Bob Demo", "Sales"]
    problem(api.get("user", "/my/company_extensions?_page=0", tokens["user"]), 400, "_page")


def _cdr(db: Engine, user: int, company: int, direction: str, when: dt.datetime) -> int:
    brand = ident(db, "Brand", name="DemoBrand")
    return add(db, "UsersCdr", brand=brand, company=company, user=user, direction=direction, startTime=when,
               duration=Decimal("30"), caller="101", callee="102", numRecordings=0)


def test_call_history_stats_and_last_month(api: Api, tokens: dict[str, str], db: Engine) -> None:
    d = demo(db)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    _cdr(db, d.alice, d.company, "inbound", dt.datetime(2024, 1, 10, 12, 0, 0))
    _cdr(db, d.alice, d.company, "outbound", now - dt.timedelta(days=2))
    _cdr(db, d.alice, d.company, "inbound", now - dt.timedelta(days=3))
    _cdr(db, d.bob, d.company, "inbound", now - dt.timedelta(days=1))
    add(db, "CallForwardSetting", company=d.company, user=d.alice, callTypeFilter="both", callForwardType="busy",
        targetType="number", numberValue="600000000", noAnswerTimeout=10, enabled=True)
    r = api.get("user", "/my/call_history?_order[startTime]=ASC", tokens["user"])
    assert r.status_code == 200 and r.headers["X-Total-Items"] == "3"
    first = r.json()[0]
    assert first["startTime"] == "2024-01-10 13:00:00"  # Europe/Madrid
    assert {"caller", "callee", "duration", "direction", "numRecordings"} <= set(first)
    assert len(api.get("user", "/my/call_history?direction=outbound", tokens["user"]).json()) == 1
    problem(api.get("user", "/my/call_history?direction[gt]=x", tokens["user"]), 400)
    assert api.get("user", "/my/call_stats", tokens["user"]).json() == {"totalCalls": 3, "totalDetours": 1}
    assert api.get("user", "/my/last_month_calls", tokens["user"]).json() == {"inbound": 1, "outbound": 1, "total": 2}


def test_status(api: Api, tokens: dict[str, str], db: Engine) -> None:
    from tests.api.test_custom_unassigned import no_service_codes

    d = demo(db)
    no_service_codes(db, d.brand, d.company)
    status = api.get("user", "/my/status", tokens["user"]).json()
    assert status["userName"] == "Alice Demo" and status["companyName"] == "DemoCompany"
    assert (status["companyDomain"], status["language"], status["terminalName"], status["terminalPassword"],
            status["extensionNumber"]) == ("127.0.0.1", "en", "alice", "DEMOalice+101", 101)
    assert status["voiceMail"] == "93"  # the Voicemail service's default code
    assert (status["userAgent"], status["ipRegistered"], status["statusTerminal"]) == ("", "", "")
    assert status["features"] == []
    voicemail = ident(db, "Service", iden="Voicemail")
    add(db, "BrandService", brand=d.brand, service=voicemail, code="55")
    assert api.get("user", "/my/status", tokens["user"]).json()["voiceMail"] == "55"
    add(db, "CompanyService", company=d.company, service=voicemail, code="66")
    assert api.get("user", "/my/status", tokens["user"]).json()["voiceMail"] == "66"
