"""Input that once crashed the API or was silently accepted (issue 19, items 7 and 10).

Each is refused with an RFC 7807 problem naming the parameter, field or reason, in one place:
the body reader (polyvox.api.files), the integer and text checks (polyvox.api.engine: as_int,
check_text, path_id), the query parser (polyvox.api.query) and the timezone reader
(polyvox.api.datetimes.zone). Nothing is written by a refused request.
"""

from __future__ import annotations

import json

import pytest

from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import Factory, assert_problem

mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens

HUGE = [2**63, 2**64 + 1, -(2**63) - 1, 2**31]  # past SQLite's int64 and PostgreSQL's int4


def count(api: Api, level: str, path: str, token: str) -> int:
    r = api.get(level, path, token, params={"_itemsPerPage": 1})
    assert r.status_code == 200, r.text
    return int(r.headers["X-Total-Items"])


# ---------------------------------------------------------------------------------------------
# integers out of range (OverflowError in SQLite, "integer out of range" in PostgreSQL)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_path_id_out_of_range(mod_api: Api, mod_tokens: dict[str, str], method: str, value: int) -> None:
    r = mod_api.request(method, "client", f"/terminals/{value}", mod_tokens["client"],
                        **({"json": {"name": "x"}} if method == "PUT" else {}))
    assert_problem(r, "id")


def test_path_id_not_a_number_is_not_found(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    assert_problem(mod_api.get("client", "/terminals/abc", mod_tokens["client"]), status=404)


@pytest.mark.parametrize("value", HUGE)
def test_reference_field_out_of_range(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                      value: int) -> None:
    tok = mod_tokens["client"]
    before = count(mod_api, "client", "/terminals", tok)
    body = {**mod_factory.body("client", "Terminal", tok), "terminalModel": value}
    assert_problem(mod_api.post("client", "/terminals", tok, body), "terminalModel")
    assert count(mod_api, "client", "/terminals", tok) == before


@pytest.mark.parametrize("param", ["_page", "_itemsPerPage", "id", "terminalModel", "id[gt]", "terminalModel[]"])
def test_query_integer_out_of_range(mod_api: Api, mod_tokens: dict[str, str], param: str) -> None:
    r = mod_api.get("client", "/terminals", mod_tokens["client"], params={param: str(2**63)})
    assert_problem(r, param)


@pytest.mark.parametrize(("level", "param"), [("platform", "brand"), ("brand", "company")])
def test_active_calls_filter_out_of_range(mod_api: Api, mod_tokens: dict[str, str], level: str, param: str) -> None:
    r = mod_api.get(level, "/my/active_calls", mod_tokens[level], params={param: str(2**63)})
    assert_problem(r, param)


def test_realtime_filter_out_of_range(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("platform", "/my/active_calls/realtime_filter", mod_tokens["platform"], params={"b": str(2**64)})
    assert_problem(r, "b")


def test_integer_field_out_of_range(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["client"]
    body = {**mod_factory.body("client", "User", tok), "maxCalls": 2**63}
    assert_problem(mod_api.post("client", "/users", tok, body), "maxCalls")


# ---------------------------------------------------------------------------------------------
# bodies


def test_json_nested_1000_deep(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    raw = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    r = mod_api.request("POST", "client", "/terminals", mod_tokens["client"], content=raw,
                        headers={"Content-Type": "application/json"})
    assert_problem(r)
    assert "nested too deeply" in r.json()["detail"]


def test_lone_surrogate_in_body(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["client"]
    before = count(mod_api, "client", "/terminals", tok)
    body = {**mod_factory.body("client", "Terminal", tok), "name": "PLACEHOLDER"}
    raw = json.dumps(body).replace("PLACEHOLDER", "a\\ud800b")  # valid JSON text, invalid Unicode
    r = mod_api.request("POST", "client", "/terminals", tok, content=raw, headers={"Content-Type": "application/json"})
    assert_problem(r, "name")
    assert count(mod_api, "client", "/terminals", tok) == before


def test_nul_character_in_body(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["client"]
    body = {**mod_factory.body("client", "Terminal", tok), "name": "a\x00b"}
    assert_problem(mod_api.post("client", "/terminals", tok, body), "name")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_refused(mod_api: Api, mod_tokens: dict[str, str], literal: str) -> None:
    r = mod_api.request("POST", "client", "/users", mod_tokens["client"], content='{"maxCalls": ' + literal + "}",
                        headers={"Content-Type": "application/json"})
    assert_problem(r)


@pytest.mark.parametrize("ctype", ["text/plain", None, "application/x-www-form-urlencoded-nope"])
def test_body_that_is_not_json(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                               ctype: str | None) -> None:
    tok = mod_tokens["client"]
    before = count(mod_api, "client", "/terminals", tok)
    raw = json.dumps(mod_factory.body("client", "Terminal", tok))
    headers = {"Content-Type": ctype} if ctype else {}
    r = mod_api.client.post("/api/client/terminals", content=raw.encode(),
                            headers={"Authorization": f"Bearer {tok}", **headers})
    body = assert_problem(r, status=415)
    assert "must be JSON" in body["detail"]
    assert count(mod_api, "client", "/terminals", tok) == before


def test_json_body_with_charset_accepted(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["client"]
    raw = json.dumps(mod_factory.body("client", "Terminal", tok))
    r = mod_api.client.post("/api/client/terminals", content=raw.encode(), headers={
        "Authorization": f"Bearer {tok}", "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


def test_custom_operation_body_that_is_not_json(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    """The custom operations read bodies with the same reader (same errors)."""
    r = mod_api.client.put("/api/user/my/profile", content=b'{"name": "x"}', headers={
        "Authorization": f"Bearer {mod_tokens['user']}", "Content-Type": "text/plain"})
    assert_problem(r, status=415)


def test_login_parameters_must_be_text(mod_api: Api) -> None:
    r = mod_api.client.post("/api/platform/admin_login", json={"username": {"a": 1}, "password": "x"})
    assert_problem(r, "username")


# ---------------------------------------------------------------------------------------------
# strict types (IvozProvider's API is strictly typed)


@pytest.mark.parametrize("value", [1.5, 1.0, True])
def test_float_or_boolean_for_a_reference(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                          value: object) -> None:
    tok = mod_tokens["client"]
    body = {**mod_factory.body("client", "CallForwardSetting", tok), "user": value}
    assert_problem(mod_api.post("client", "/call_forward_settings", tok, body), "user")


@pytest.mark.parametrize("value", [1.5, 2.0, False, "2.5", "1e3"])
def test_float_or_boolean_for_an_integer(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                         value: object) -> None:
    tok = mod_tokens["client"]
    body = {**mod_factory.body("client", "User", tok), "maxCalls": value}
    assert_problem(mod_api.post("client", "/users", tok, body), "maxCalls")


def test_digit_string_for_an_integer_accepted(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    """Query strings and forms carry only text: a string of digits is an integer everywhere."""
    tok = mod_tokens["client"]
    r = mod_api.post("client", "/users", tok, {**mod_factory.body("client", "User", tok), "maxCalls": "3"})
    assert r.status_code == 201, r.text
    assert r.json()["maxCalls"] == 3


# ---------------------------------------------------------------------------------------------
# query strings


def test_partial_filter_past_sqlite_like_limit(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    """SQLite refuses LIKE patterns over 50,000 bytes ("LIKE or GLOB pattern too complex"); the
    test client caps URLs at 64 KiB, so 60,000 characters stand for the issue's 100,000."""
    r = mod_api.get("client", "/terminals", mod_tokens["client"], params={"name[partial]": "a" * 60_000})
    assert_problem(r, "name[partial]")


@pytest.mark.parametrize("op", ["start", "end", "exact"])
def test_text_filter_longer_than_the_column(mod_api: Api, mod_tokens: dict[str, str], op: str) -> None:
    r = mod_api.get("client", "/terminals", mod_tokens["client"], params={f"name[{op}]": "a" * 101})
    assert_problem(r, f"name[{op}]")


def test_nul_in_a_filter(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    assert_problem(mod_api.get("client", "/terminals", mod_tokens["client"], params={"name": "a\x00"}), "name")


@pytest.mark.parametrize("tz", ["A" * 5000, "Europe/" + "x" * 300, "../../etc/passwd", "Nowhere/Nothing"])
def test_unusable_timezone(mod_api: Api, mod_tokens: dict[str, str], tz: str) -> None:
    r = mod_api.get("client", "/terminals", mod_tokens["client"], params={"_timezone": tz})
    assert_problem(r, "_timezone")


def test_date_time_out_of_range_in_utc(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/invoices", mod_tokens["brand"], params={"inDate[after]": "9999-12-31 23:00:00-05:00"})
    assert_problem(r, "inDate[after]")


def test_typed_path_parameter_of_a_custom_operation(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    """FastAPI's own parameter validation answers like the rest of the API (400 problem)."""
    r = mod_api.request("POST", "platform", "/administrators/abc/grant_all", mod_tokens["platform"])
    assert r.status_code in (400, 404), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("value", ["banana", "2", "yes"])
def test_boolean_filter_not_a_boolean(mod_api: Api, mod_tokens: dict[str, str], value: str) -> None:
    r = mod_api.get("client", "/terminals", mod_tokens["client"], params={"rtpEncryption": value})
    assert_problem(r, "rtpEncryption")


@pytest.mark.parametrize("value", ["true", "1", "FALSE", "0"])
def test_boolean_filter_accepted(mod_api: Api, mod_tokens: dict[str, str], value: str) -> None:
    assert mod_api.get("client", "/terminals", mod_tokens["client"], params={"rtpEncryption": value}).status_code == 200
