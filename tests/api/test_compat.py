"""IvozProvider API clients work unchanged: dates and times as PHP reads them, token exchange
chains, detailed item views that can be PUT back (docs/api.md)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import jwt
import pytest
from sqlalchemy import Engine, select

from polyvox.db.model import ENTITY
from polyvox.db.policy import EXTRA_EXPOSURE, PASSWORD_FIELDS
from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import LEVELS, Factory, assert_problem, contract_dir, exposure, ops, path_of, resources
from tests.api.test_crud_all import CALL_PRODUCED, KNOWN, existing_row

# module-scoped application and data for the all-resources checks (tests/api/factory.py)
mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens

I18N = {"en": "g", "es": "g", "ca": "g", "it": "g", "eu": "g"}
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME = re.compile(r"\d{2}:\d{2}:\d{2}")


# ---------------------------------------------------------------------------------------------
# 1. dates and times


def _rating_group(api: Api, token: str) -> int:
    """A rating plan group a rating profile may use: it rates 24x7 (spec 9.4.3)."""
    r = api.post("brand", "/rating_plan_groups", token, {"name": I18N, "description": I18N})
    assert r.status_code == 201, r.text
    return Factory(api, {"brand": token}).rating_ready_group("brand", token, group=int(r.json()["id"]))


def _stored(db: Engine, entity: str, ident: int, column: str) -> Any:
    t = ENTITY[entity].table
    with db.connect() as c:
        return c.execute(select(t.c[column]).where(t.c.id == ident)).scalar()


@pytest.mark.parametrize(("sent", "shown", "utc"), [
    ("2018-01-01 00:00:00.000", "2018-01-01 00:00:00", "2017-12-31 23:00:00"),
    ("2018-01-01 00:00:00", "2018-01-01 00:00:00", "2017-12-31 23:00:00"),
    ("2018-01-01T00:00:00", "2018-01-01 00:00:00", "2017-12-31 23:00:00"),
    ("2018-01-01", "2018-01-01 00:00:00", "2017-12-31 23:00:00"),
    ("01-01-2018", "2018-01-01 00:00:00", "2017-12-31 23:00:00"),
    # an offset wins over the administrator's timezone (Europe/Madrid)
    ("2018-01-01T00:00:00+02:00", "2017-12-31 23:00:00", "2017-12-31 22:00:00"),
    ("2018-01-01T00:00:00Z", "2018-01-01 01:00:00", "2018-01-01 00:00:00"),
    ("2018-01-01T00:00:00.000Z", "2018-01-01 01:00:00", "2018-01-01 00:00:00"),
])
def test_datetimes_as_php_reads_them(api: Api, tokens: dict[str, str], db: Engine,
                                     sent: str, shown: str, utc: str) -> None:
    token = tokens["brand"]  # the demo brand operator's timezone is Europe/Madrid (UTC+1 in January)
    r = api.post("brand", "/rating_profiles", token, {"company": 1, "ratingPlanGroup": _rating_group(api, token),
                                                     "activationTime": sent})
    assert r.status_code == 201, r.text
    assert r.json()["activationTime"] == shown
    ident = r.json()["id"]
    assert str(_stored(db, "RatingProfile", ident, "activationTime")) == utc
    assert api.get("brand", f"/rating_profiles/{ident}?_timezone=UTC", token).json()["activationTime"] == utc
    # the same forms in filters
    r = api.get("brand", "/rating_profiles", token, params={"activationTime[after]": sent, "id": ident})
    assert [x["id"] for x in r.json()] == [ident]


def test_datetime_updates_and_garbage(api: Api, tokens: dict[str, str]) -> None:
    token = tokens["brand"]
    r = api.post("brand", "/rating_profiles", token, {"company": 1, "ratingPlanGroup": _rating_group(api, token),
                                                     "activationTime": "2018-01-01 10:00:00"})
    ident = r.json()["id"]
    r = api.put("brand", f"/rating_profiles/{ident}", token, {"activationTime": "2019-07-01T10:00:00+00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["activationTime"] == "2019-07-01 12:00:00"  # Madrid is UTC+2 in July
    for bad in ("garbage", "2018-02-30 00:00:00", "2018-01-01 24:00:00", "10:00", "now", 20180101, True):
        r = api.put("brand", f"/rating_profiles/{ident}", token, {"activationTime": bad})
        body = assert_problem(r, "activationTime")
        assert "valid datetime" in body["detail"]
        r = api.get("brand", "/rating_profiles", token, params={"activationTime[after]": bad})
        assert_problem(r, "activationTime[after]")
    assert api.get("brand", f"/rating_profiles/{ident}", token).json()["activationTime"] == "2019-07-01 12:00:00"


@pytest.mark.parametrize(("sent", "shown"), [
    ("01-01-2018", "00:00:00"),  # a date for a time field: PHP's midnight of that day
    ("2018-01-01", "00:00:00"),
    ("2018-01-01 10:15:00", "10:15:00"),
    ("2018-01-01T10:15:00+02:00", "10:15:00"),  # times are never shifted
    ("08:30", "08:30:00"),
    ("08:30:15", "08:30:15"),
    ("08:30:15.500", "08:30:15"),
    ("T08:30:15", "08:30:15"),
])
def test_time_fields(api: Api, tokens: dict[str, str], sent: str, shown: str) -> None:
    token = tokens["client"]
    r = api.post("client", "/schedules", token, {"name": "s", "timeIn": sent, "timeout": "23:59", "monday": True})
    assert r.status_code == 201, r.text
    assert r.json()["timeIn"] == shown
    assert api.get("client", f"/schedules/{r.json()['id']}", token).json()["timeIn"] == shown


def test_rating_plan_time_in_given_as_a_date(api: Api, tokens: dict[str, str]) -> None:
    """``"timeIn": "01-01-2018"`` is accepted by IvozProvider (PHP: 2018-01-01 00:00:00, stored
    as the TIME 00:00:00); a custom plan of every weekday from there covers the week."""
    token = tokens["brand"]
    days = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), True)
    r = api.post("brand", "/rating_plans", token, {"ratingPlanGroup": _rating_group(api, token),
                                                   "destinationRateGroup": _destination_rate_group(api, token),
                                                   "timingType": "custom", "timeIn": "01-01-2018", "weight": 1,
                                                   **days})
    assert r.status_code == 201, r.text
    assert api.get("brand", f"/rating_plans/{r.json()['id']}", token).json()["timeIn"] == "00:00:00"


def _destination_rate_group(api: Api, token: str) -> int:
    r = api.post("brand", "/destination_rate_groups", token, {"name": I18N, "description": I18N})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_schedules_calendars_and_garbage(api: Api, tokens: dict[str, str]) -> None:
    token = tokens["client"]
    r = api.post("client", "/schedules", token, {"name": "office", "timeIn": "08:00", "timeout": "18:00:00",
                                                 "monday": True})
    assert r.status_code == 201, r.text
    assert (r.json()["timeIn"], r.json()["timeout"]) == ("08:00:00", "18:00:00")
    for bad in ("25:00", "8", "garbage", "", 800):
        assert_problem(api.post("client", "/schedules", token, {"name": "x", "timeIn": bad, "timeout": "18:00"}),
                       "timeIn")
    cal = api.post("client", "/calendars", token, {"name": "holidays"})
    assert cal.status_code == 201, cal.text
    spain = api.get("client", "/countries?code=ES", token).json()[0]["id"]
    r = api.post("client", "/calendar_periods", token, {"calendar": cal.json()["id"], "routeType": "number",
                                                        "numberValue": "600000000", "numberCountry": spain,
                                                        "startDate": "2030-01-01T23:30:00-05:00",
                                                        "endDate": "31-01-2030"})
    assert r.status_code == 201, r.text
    assert (r.json()["startDate"], r.json()["endDate"]) == ("2030-01-01", "2030-01-31")
    for bad in ("2030-02-30", "30-30-2030", "garbage"):
        assert_problem(api.put("client", f"/calendar_periods/{r.json()['id']}", token, {"endDate": bad}), "endDate")


# ---------------------------------------------------------------------------------------------
# 2. token exchange chains


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _admin(api: Api, god: str, username: str, *, brand: int | None = None, company: int | None = None,
           restricted: bool = False, can_impersonate: bool = False, active: bool = True) -> int:
    """An administrator as IvozProvider clients create them: canImpersonate defaults to false."""
    level, token = "platform", god
    body: dict[str, Any] = {"username": username, "pass": "S3cret-pass", "email": f"{username}@example.com",
                            "active": active, "restricted": restricted, "name": username, "lastname": "x",
                            "canImpersonate": can_impersonate}
    if company is not None:
        level, token = "brand", api.exchange("brand", god, brandId=brand or 1)
        body["company"] = company
    else:
        body["brand"] = brand
    r = api.post(level, "/administrators", token, body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _exchange(api: Api, level: str, token: str, **params: Any) -> Any:
    return api.client.post(f"/api/{level}/token/exchange", data={"token": token, **params})


def test_exchange_chain_platform_brand_client_user_by_username(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    # intermediate administrators that could not impersonate on their own (restricted, flag off)
    _admin(api, god, "chainbrand", brand=1, restricted=True)
    _admin(api, god, "chainclient", brand=1, company=1, restricted=True)
    brand = api.exchange("brand", god, username="chainbrand")
    client = api.exchange("client", brand, username="chainclient")
    user = api.exchange("user", client, username="alice@democompany.com")
    for token, level in ((brand, "brand"), (client, "client"), (user, "user")):
        claims = _claims(token)
        assert claims["level"] == level
        assert (claims["on_behalf_of"], claims["origin_level"]) == ("admin", "platform")
    assert _claims(client)["username"] == "chainclient"
    assert api.get("client", "/my/profile", client).json()["onBehalfOf"] == "admin"
    assert api.get("user", "/my/profile", user).status_code == 200
    # the global operator at the end of two hops still sees the platform data (spec 5.1.2)
    assert api.get("brand", "/companies/1", brand).json()["applicationServerSet"] is not None
    assert api.get("brand", "/companies/1", tokens["brand"]).json()["applicationServerSet"] is None


def test_exchange_chain_by_id_and_internal_usernames(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    by_id = api.exchange("brand", god, brandId=1)
    assert _claims(by_id)["username"] == "__b1_internal"
    internal = api.exchange("brand", god, username="__b1_internal")
    assert _claims(internal)["brand_id"] == 1
    for brand in (by_id, internal):
        client = api.exchange("client", brand, clientId=1)
        assert (_claims(client)["company_id"], _claims(client)["origin_level"]) == (1, "platform")
        assert _claims(api.exchange("client", brand, username="__c1_internal"))["username"] == "__c1_internal"
        assert _claims(api.exchange("client", brand, username="democompany"))["username"] == "democompany"
        assert api.get("client", "/users", client).status_code == 200
    # the id wins over the username, as in IvozProvider
    assert _claims(api.exchange("brand", god, brandId=1, username="nobody"))["username"] == "__b1_internal"
    # JSON bodies work as well as forms
    r = api.client.post("/api/brand/token/exchange", json={"token": god, "brandId": 1})
    assert r.status_code == 201 and "token" in r.json()


def test_exchange_from_a_brand_administrators_own_token(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    # an unrestricted administrator may always impersonate (IvozProvider forces canImpersonate on)
    _admin(api, god, "plainbrand", brand=1, can_impersonate=False)
    _admin(api, god, "restrictedok", brand=1, restricted=True, can_impersonate=True)
    _admin(api, god, "restrictedno", brand=1, restricted=True, can_impersonate=False)
    for username in ("plainbrand", "restrictedok"):
        own = api.login("brand", username, "S3cret-pass")
        client = api.exchange("client", own, username="democompany")
        assert (_claims(client)["on_behalf_of"], _claims(client)["origin_level"]) == (username, "brand")
        assert api.get("client", "/users", client).status_code == 200
    own = api.login("brand", "restrictedno", "S3cret-pass")
    r = _exchange(api, "client", own, username="democompany")
    assert_problem(r, status=403)
    # ...but a chain started by the global operator goes through that administrator
    brand = api.exchange("brand", god, username="restrictedno")
    assert api.exchange("client", brand, username="democompany")


def test_exchange_chain_checks_the_original_administrator(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "godrestricted", restricted=True, can_impersonate=True)
    mine = api.login("platform", "godrestricted", "S3cret-pass")
    brand = api.exchange("brand", mine, brandId=1)
    assert api.put("platform", f"/administrators/{ident}", god, {"canImpersonate": False}).status_code == 200
    assert_problem(_exchange(api, "client", brand, clientId=1), status=403)
    assert api.put("platform", f"/administrators/{ident}", god, {"canImpersonate": True, "active": False}
                   ).status_code == 200
    assert_problem(_exchange(api, "client", brand, clientId=1), status=401)


def test_exchange_never_goes_up_sideways_or_out_of_the_tenant(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    other_brand = Factory(api, tokens).create("platform", "Brand")["id"]
    client = tokens["client"]
    assert_problem(_exchange(api, "brand", client, brandId=1), status=403)  # up
    assert_problem(_exchange(api, "client", client, clientId=1), status=403)  # sideways
    assert_problem(_exchange(api, "client", client, username="democompany"), status=403)
    brand = tokens["brand"]
    assert_problem(_exchange(api, "brand", brand, brandId=1), status=403)
    other = api.exchange("brand", god, brandId=other_brand)
    assert_problem(_exchange(api, "client", other, clientId=1), status=404)
    assert_problem(_exchange(api, "client", other, username="democompany"), status=404)
    assert_problem(_exchange(api, "user", api.exchange("client", brand, clientId=1), username="nobody@x.com"),
                   status=404)
    assert_problem(_exchange(api, "client", brand, clientId=999999), status=404)
    assert_problem(_exchange(api, "client", brand, username="admin"), status=404)  # not a client administrator
    assert_problem(_exchange(api, "user", tokens["brand"], username="nobody@example.com"), status=404)
    assert_problem(_exchange(api, "client", brand), status=400)  # neither username nor clientId
    assert_problem(_exchange(api, "client", brand, clientId="x"), "clientId")
    assert_problem(_exchange(api, "client", "not-a-token", clientId=1), status=401)
    assert_problem(api.client.post("/api/client/token/exchange", data={"clientId": 1}), "token")


def test_refresh_of_an_exchanged_token_needs_the_original_administrator(api: Api, tokens: dict[str, str]) -> None:
    god_id = _admin(api, tokens["platform"], "godtwo")
    god = api.login("platform", "godtwo", "S3cret-pass")
    r = _exchange(api, "brand", god, brandId=1)
    assert r.status_code == 201, r.text
    refresh = r.json()["refresh_token"]
    assert api.put("platform", f"/administrators/{god_id}", tokens["platform"], {"active": False}).status_code == 200
    assert api.client.post("/api/brand/token/refresh", data={"refresh_token": refresh}).status_code == 401


# ---------------------------------------------------------------------------------------------
# 3. detailed item views, and PUT back what was read


_CONTRACT: dict[str, dict[str, Any]] = {}


def contract(level: str) -> dict[str, Any]:
    if level not in _CONTRACT:
        d = contract_dir()
        assert d is not None
        _CONTRACT[level] = json.loads((d / f"{level}.json").read_text())["definitions"]
    return _CONTRACT[level]


def _detailed(level: str, resource: str) -> dict[str, Any] | None:
    defs = contract(level)
    return defs.get(f"{resource}-detailed") or defs.get(resource)


def _ref_name(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref")
    return ref.rsplit("/", 1)[1] if isinstance(ref, str) else None


def shape_errors(level: str, resource: str, item: dict[str, Any]) -> list[str]:
    """Where an item GET differs from the contract's detailed view."""
    schema = _detailed(level, resource)
    assert schema is not None, f"{resource}: no detailed view in the {level} contract"
    props: dict[str, Any] = schema["properties"]
    errors = [f"{name}: missing" for name in props if name not in item]
    extras = set(EXTRA_EXPOSURE.get(level, {}).get(resource, {}).get("extra_fields", ()))
    extras |= {n for key in ("item", "collection") for n in EXTRA_EXPOSURE.get(level, {}).get(resource, {}).get(key, ())}
    errors += [f"{name}: not in the contract" for name in item if name not in props and name not in extras]
    for name, prop in props.items():
        value = item.get(name)
        target = _ref_name(prop)
        if value is None:
            continue
        tdef = contract(level).get(target) if target is not None else None
        if tdef is not None and "id" not in tdef.get("properties", {}):  # value object (Company_Invoicing)
            members = set(tdef["properties"])
            if not isinstance(value, dict) or set(value) != members:
                errors.append(f"{name}: {value!r} is not the value object {sorted(members)}")
        elif target is not None:
            if not isinstance(value, dict) or not isinstance(value.get("id"), int):
                errors.append(f"{name}: {value!r} is not an embedded {target} with its id")
            elif tdef is not None and set(value) != set(tdef["properties"]):
                errors.append(f"{name}: keys {sorted(value)} differ from {target} {sorted(tdef['properties'])}")
        elif prop.get("type") == "array":
            if not isinstance(value, list) or not all(isinstance(x, int) for x in value):
                errors.append(f"{name}: {value!r} is not a list of ids")
        elif prop.get("format") == "date-time" and not DATETIME.fullmatch(str(value)):
            errors.append(f"{name}: {value!r} is not YYYY-MM-DD HH:MM:SS")
        elif prop.get("format") == "date" and not DATE.fullmatch(str(value)):
            errors.append(f"{name}: {value!r} is not YYYY-MM-DD")
        elif prop.get("format") == "time" and not TIME.fullmatch(str(value)):
            errors.append(f"{name}: {value!r} is not HH:MM:SS")
    return errors


def ids_only(item: dict[str, Any]) -> dict[str, Any]:
    """What a client sends back after replacing embedded objects by their ids."""
    return {k: v["id"] if isinstance(v, dict) and "id" in v else v for k, v in item.items()}


def comparable(level: str, resource: str, item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ids_only(item).items()
            if (resource, k) not in PASSWORD_FIELDS and k != "password"}


def _params() -> list[Any]:
    return [pytest.param(level, resource, id=f"{level}-{resource}")
            for level in LEVELS for resource in resources(level, "get")]


@pytest.fixture(scope="module", autouse=True)
def billing_shown(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    """DemoCompany displays billing details, so its administrator reaches invoices and rating profiles."""
    r = mod_api.put("brand", "/companies/1", mod_tokens["brand"], {"showInvoices": True})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module", autouse=True)
def call_rows(mod_api: Api, mod_db: Engine, mod_tokens: dict[str, str]) -> None:
    """One row of each kind that only calls (or the platform's workers) produce, for DemoCompany
    and its user Alice, and privilege rows of a restricted brand operator."""
    with mod_db.connect() as c:
        u, v = ENTITY["User"].table, ENTITY["Voicemail"].table
        alice = c.execute(select(u.c.id).where(u.c.email == "alice@democompany.com")).scalar()
        voicemail = c.execute(select(v.c.id).where(v.c.userId == alice)).scalar()
    when = dt.datetime(2024, 1, 1, 10)
    tenant = {"brand": 1, "company": 1}
    fx.insert_row(mod_db, "BannedAddress", ip="192.0.2.1", blocker="antiflood", lastTimeBanned=when)
    fx.insert_row(mod_db, "BannedAddress", ip="192.0.2.2", blocker="antibruteforce", lastTimeBanned=when, **tenant)
    call = fx.insert_row(mod_db, "BillableCall", callid="c1", caller="+34600000001", callee="+34600000002",
                         startTime=when, duration=10, direction="outbound", **tenant)
    cdr = fx.insert_row(mod_db, "UsersCdr", callid="c1", caller="101", callee="102", startTime=when, duration=10,
                        direction="outbound", disposition="answered", user=alice, **tenant)
    fx.insert_row(mod_db, "Recording", callid="c1", calldate=when, duration=10, type="ondemand", user=alice,
                  billableCall=call, usersCdr=cdr, **tenant)
    fx.insert_row(mod_db, "BalanceMovement", amount=10, balance=10, createdOn=when, **tenant)
    fx.insert_row(mod_db, "CallCsvReport", sentTo="x@example.com", inDate=when, outDate=when, createdOn=when,
                  **tenant)
    if voicemail is not None:
        fx.insert_row(mod_db, "VoicemailMessage", voicemail=voicemail, calldate=when, caller="101", duration=5,
                      folder="INBOX")
    factory = Factory(mod_api, mod_tokens)
    admin = factory.create("platform", "Administrator", brand=1, restricted=True)
    r = mod_api.post("platform", f"/administrators/{admin['id']}/grant_read_only", mod_tokens["platform"], None)
    assert r.status_code == 200, r.text


def _row(factory: Factory, level: str, resource: str, token: str) -> tuple[int | None, bool]:
    """A row to read, and whether it was created for the test."""
    if "create" in ops(level, resource) and resource not in CALL_PRODUCED and (level, resource) not in KNOWN:
        return int(factory.create(level, resource, token)["id"]), True
    return existing_row(factory, level, resource, token), False


@pytest.mark.parametrize(("level", "resource"), _params())
def test_detailed_view_matches_the_contract_and_can_be_put_back(
        mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str], level: str, resource: str) -> None:
    api, token = mod_api, mod_tokens[level]
    ident, created = _row(mod_factory, level, resource, token)
    if ident is None:
        pytest.skip(f"no {resource} row to read at {level} level (rows produced by calls)")
    path = f"{path_of(resource)}/{ident}"
    try:
        _check_detailed(api, level, resource, token, path)
    finally:  # rows left behind would meet later parameters' uniqueness rules
        if created and "delete" in ops(level, resource):
            api.delete(level, path, token)


def _check_detailed(api: Api, level: str, resource: str, token: str, path: str) -> None:
    r = api.get(level, path, token)
    assert r.status_code == 200, r.text
    item = r.json()
    assert shape_errors(level, resource, item) == []
    if "update" not in ops(level, resource):
        return
    before = comparable(level, resource, item)
    # as read, with the embedded objects (and read-only, computed fields) sent back
    r = api.put(level, path, token, item)
    assert r.status_code == 200, f"PUT back as read: {r.text}"
    assert comparable(level, resource, api.get(level, path, token).json()) == before
    # objects replaced by their ids
    r = api.put(level, path, token, ids_only(item))
    assert r.status_code == 200, f"PUT back with ids: {r.text}"
    assert comparable(level, resource, r.json()) == before
    assert comparable(level, resource, api.get(level, path, token).json()) == before


def test_json_ld_items_and_iris_can_be_put_back(api: Api, tokens: dict[str, str]) -> None:
    token, ld = tokens["brand"], {"Accept": "application/ld+json"}
    item = api.get("brand", "/companies/1", token, headers=ld).json()
    assert item["@id"] == "/api/brand/companies/1" and item["language"]["id"]
    r = api.put("brand", "/companies/1", token, item, headers=ld)
    assert r.status_code == 200, r.text
    spain = item["country"]["id"]
    r = api.put("brand", "/companies/1", token, {"country": f"/api/brand/countries/{spain}",
                                                 "language": {"id": item["language"]["id"], "iden": "ignored"}})
    assert r.status_code == 200, r.text
    assert (r.json()["country"], r.json()["language"]) == (spain, item["language"]["id"])


def test_passwords_read_as_stars_and_put_back_are_kept(api: Api, tokens: dict[str, str]) -> None:
    god = tokens["platform"]
    ident = _admin(api, god, "roundtrip", brand=1)
    item = api.get("platform", f"/administrators/{ident}", god).json()
    assert item["pass"] == "*****"
    r = api.put("platform", f"/administrators/{ident}", god, {**item, "name": "Renamed"})
    assert r.status_code == 200, r.text
    assert api.login("brand", "roundtrip", "S3cret-pass")
    users = api.get("client", "/users", tokens["client"]).json()
    alice = next(u for u in users if u["email"] == "alice@democompany.com")
    item = api.get("client", f"/users/{alice['id']}", tokens["client"]).json()
    r = api.put("client", f"/users/{alice['id']}", tokens["client"], item)
    assert r.status_code == 200, r.text
    assert api.login("user", "alice@democompany.com", "alice")


def test_defaults_of_fields_the_creating_level_cannot_write(api: Api, tokens: dict[str, str]) -> None:
    """A DDI created by a brand has IvozProvider's recordCalls 'none', so that its client can
    PUT back what it reads."""
    factory = Factory(api, tokens)
    ddi = factory.create("brand", "Ddi", tokens["brand"], company=1)
    item = api.get("client", f"/ddis/{ddi['id']}", tokens["client"]).json()
    assert item["recordCalls"] == "none"
    assert api.put("client", f"/ddis/{ddi['id']}", tokens["client"], item).status_code == 200


def test_company_created_through_the_api_embeds_its_defaults(api: Api, tokens: dict[str, str]) -> None:
    token = tokens["brand"]
    spain = api.get("brand", "/countries?code=ES", token).json()[0]["id"]
    r = api.post("brand", "/companies", token, {
        "type": "vpbx", "name": "Embedded", "domainUsers": "embedded.example.com", "country": spain,
        "transformationRuleSet": 1, "maxCalls": 0, "maxDailyUsage": 100, "billingMethod": "postpaid",
        "allowRecordingRemoval": True, "onDemandRecordEmail": "disabled"})
    assert r.status_code == 201, r.text
    item = api.get("brand", f"/companies/{r.json()['id']}", token).json()
    assert shape_errors("brand", "Company", item) == []
    # IvozProvider's Company::sanitizeValues: the brand's language and timezone when none is given
    brand = api.get("platform", "/brands/1", tokens["platform"]).json()
    assert item["language"]["id"] == brand["language"]["id"]
    assert item["defaultTimezone"]["id"] == brand["defaultTimezone"]["id"]
    for name in ("country", "transformationRuleSet"):
        assert isinstance(item[name], dict) and isinstance(item[name]["id"], int), name
    assert set(item["language"]) == {"id", "iden", "name"}


def test_every_level_has_detailed_views() -> None:
    for level in LEVELS:
        missing = [r for r in resources(level, "get") if _detailed(level, r) is None]
        assert missing == [], f"{level}: {missing}"
        assert all(exposure(level, r)["item"] for r in resources(level, "get"))
