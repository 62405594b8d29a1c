"""Write-time rules of the spec and type checks: a 4xx problem naming the field, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import (
    Factory,
    Tenant,
    assert_problem,
    exposure,
    make_tenant,
    path_of,
    unique,
)

# module-scoped application and data (tests/api/factory.py)
mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens


@pytest.fixture(scope="module")
def other(mod_factory: Factory) -> Tenant:
    return make_tenant(mod_factory)


def refused(factory: Factory, level: str, resource: str, token: str, field: str,
            send: Callable[[], httpx.Response], status: int | tuple[int, ...] = 400) -> dict[str, Any]:
    """``send`` is answered with a problem naming ``field`` and the collection does not change."""
    before = factory.api.get(level, path_of(resource), token, params={"_pagination": "false"}).json()
    body = assert_problem(send(), field, status)
    after = factory.api.get(level, path_of(resource), token, params={"_pagination": "false"}).json()
    assert after == before, "a refused write changed the collection"
    return body


def post_refused(factory: Factory, level: str, resource: str, token: str, body: dict[str, Any],
                 field: str) -> dict[str, Any]:
    return refused(factory, level, resource, token, field, lambda: factory.post(level, resource, token, body))


def put_refused(factory: Factory, level: str, resource: str, token: str, ident: int, body: dict[str, Any],
                field: str) -> dict[str, Any]:
    return refused(factory, level, resource, token, field,
                   lambda: factory.api.put(level, f"{path_of(resource)}/{ident}", token, body))


# ---------------------------------------------------------------------------------------------
# spec 9.3.4 routing tags, outgoing DDI rule prefixes, extensions


@pytest.mark.parametrize("tag", ["12", "1234#", "ab#", "#", "12##", " 1#", "1#2", ""])
def test_routing_tag_format_refused(mod_factory: Factory, mod_tokens: dict[str, str], tag: str) -> None:
    tok = mod_tokens["brand"]
    post_refused(mod_factory, "brand", "RoutingTag", tok, mod_factory.body("brand", "RoutingTag", tok, tag=tag), "tag")


def test_routing_tag_format_accepted_and_checked_on_update(mod_api: Api, mod_factory: Factory,
                                                           mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    one = mod_factory.create("brand", "RoutingTag", tok, tag="7#")
    three = mod_factory.create("brand", "RoutingTag", tok, tag="987#")
    assert (one["tag"], three["tag"]) == ("7#", "987#")
    put_refused(mod_factory, "brand", "RoutingTag", tok, one["id"], {"tag": "77"}, "tag")
    assert mod_api.get("brand", f"/routing_tags/{one['id']}", tok).json()["tag"] == "7#"
    # unique within the brand
    post_refused(mod_factory, "brand", "RoutingTag", tok, mod_factory.body("brand", "RoutingTag", tok, tag="7#"), "tag")


@pytest.mark.parametrize("prefix", ["0", "1234*", "*", "a*", "0**", None])
def test_outgoing_ddi_prefix_format_refused(mod_factory: Factory, mod_tokens: dict[str, str],
                                            prefix: str | None) -> None:
    tok = mod_tokens["client"]
    body = mod_factory.body("client", "OutgoingDdiRulesPattern", tok, type="prefix", prefix=prefix)
    post_refused(mod_factory, "client", "OutgoingDdiRulesPattern", tok, body, "prefix")


def test_outgoing_ddi_prefix_accepted(mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    for prefix in ("0*", "34*", "999*"):
        item = mod_factory.create("client", "OutgoingDdiRulesPattern", type="prefix", prefix=prefix)
        assert item["prefix"] == prefix


@pytest.mark.parametrize("number", ["5", "", "1a", "12 ", "+34"])
def test_extension_number_refused(mod_factory: Factory, mod_tokens: dict[str, str], number: str) -> None:
    tok = mod_tokens["client"]
    post_refused(mod_factory, "client", "Extension", tok, mod_factory.body("client", "Extension", tok, number=number),
                 "number")


def test_extension_numbers_two_digits_and_unique_per_client(mod_api: Api, mod_factory: Factory,
                                                            mod_tokens: dict[str, str], other: Tenant) -> None:
    tok = mod_tokens["client"]
    ext = mod_factory.create("client", "Extension", tok, number="42")
    assert ext["number"] == "42"
    put_refused(mod_factory, "client", "Extension", tok, ext["id"], {"number": "4"}, "number")
    # 101 is Alice's extension in DemoCompany; another client may use it
    post_refused(mod_factory, "client", "Extension", tok, mod_factory.body("client", "Extension", tok, number="101"),
                 "number")
    assert mod_factory.create("client", "Extension", other.tokens["client"], number="101")["number"] == "101"


# ---------------------------------------------------------------------------------------------
# uniqueness


@pytest.mark.parametrize("resource", ["ResidentialDevice", "RetailAccount"])
def test_device_names_unique_within_brand(mod_factory: Factory, mod_tokens: dict[str, str], other: Tenant,
                                          resource: str) -> None:
    tok = mod_tokens["brand"]
    name = f"dev{unique()}"
    first = mod_factory.create("brand", resource, tok, name=name)
    # another client of the same brand
    company2 = mod_factory.create("brand", "Company", tok, type="residential")["id"]
    post_refused(mod_factory, "brand", resource, tok, mod_factory.body("brand", resource, tok, name=name,
                                                                       company=company2), "name")
    second = mod_factory.create("brand", resource, tok, company=company2)
    put_refused(mod_factory, "brand", resource, tok, second["id"], {"name": name}, "name")
    # the same name in another brand is fine
    assert mod_factory.create("brand", resource, other.tokens["brand"], name=name)["name"] == name
    assert first["name"] == name


def test_user_email_globally_unique(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                    other: Tenant) -> None:
    tok = mod_tokens["client"]
    # in the same client, in another client of another brand: refused
    post_refused(mod_factory, "client", "User", tok,
                 mod_factory.body("client", "User", tok, email="bob@democompany.com"), "email")
    post_refused(mod_factory, "client", "User", other.tokens["client"],
                 mod_factory.body("client", "User", other.tokens["client"], email="alice@democompany.com"), "email")
    mine = mod_factory.create("client", "User", tok)
    put_refused(mod_factory, "client", "User", tok, mine["id"], {"email": other.user_email}, "email")
    # users without e-mail do not collide
    a = mod_factory.create("client", "User", tok, email=None)
    b = mod_factory.create("client", "User", tok, email=None)
    assert a["email"] is None and b["email"] is None
    # and the address freed by a change is available again
    assert mod_api.put("client", f"/users/{mine['id']}", tok, {"email": f"moved{unique()}@example.com"}).status_code == 200


def test_user_email_format(mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["client"]
    post_refused(mod_factory, "client", "User", tok, mod_factory.body("client", "User", tok, email="not-an-email"),
                 "email")


# ---------------------------------------------------------------------------------------------
# spec 8.11 / 9.7.1 portal URLs

@pytest.mark.parametrize("url", ["http://portal.example.com", "https://portal.example.com/", "portal.example.com",
                                 "https://", "ftp://portal.example.com"])
def test_portal_url_refused(mod_factory: Factory, mod_tokens: dict[str, str], url: str) -> None:
    for level in ("platform", "brand"):
        tok = mod_tokens[level]
        post_refused(mod_factory, level, "WebPortal", tok, mod_factory.body(level, "WebPortal", tok, url=url), "url")


def test_portal_url_accepted(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    url = f"https://portal{unique()}.example.com"
    item = mod_factory.create("brand", "WebPortal", tok, url=url)
    assert item["url"] == url
    put_refused(mod_factory, "brand", "WebPortal", tok, item["id"], {"url": url + "/"}, "url")
    assert mod_api.get("brand", f"/web_portals/{item['id']}", tok).json()["url"] == url


# ---------------------------------------------------------------------------------------------
# spec 9.4.3 rating plans 24x7, spec 8.6 currencies


def rating_plan(factory: Factory, group: int, **kw: Any) -> dict[str, Any]:
    drg = factory.create("brand", "DestinationRateGroup")["id"]
    return factory.body("brand", "RatingPlan", None, ratingPlanGroup=group, destinationRateGroup=drg, **kw)


def test_rating_plan_group_must_cover_24x7(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    """Spec 9.4.3: a rating plan MUST rate calls 24x7. It is built from partial timings in any
    order; from the moment a rating profile uses it (it rates calls), every write keeps the week
    covered."""
    tok = mod_tokens["brand"]
    group = mod_factory.create("brand", "RatingPlanGroup")["id"]
    weekdays = mod_factory.post("brand", "RatingPlan", tok, rating_plan(
        mod_factory, group, timingType="custom", timeIn="00:00:00", saturday=False, sunday=False))
    assert weekdays.status_code == 201, weekdays.text  # being built: weekends come next
    profile = mod_factory.body("brand", "RatingProfile", tok, ratingPlanGroup=group)
    body = post_refused(mod_factory, "brand", "RatingProfile", tok, profile, "ratingPlanGroup")
    assert "saturday 00:00-24:00" in body["detail"] and "sunday 00:00-24:00" in body["detail"]
    assert "monday" not in body["detail"]
    weekend = mod_factory.post("brand", "RatingPlan", tok, rating_plan(
        mod_factory, group, timingType="custom", timeIn="00:00:00", monday=False, tuesday=False, wednesday=False,
        thursday=False, friday=False))
    assert weekend.status_code == 201, weekend.text
    used = mod_factory.post("brand", "RatingProfile", tok, profile)
    assert used.status_code == 201, used.text
    # the group rates calls now: no write may open a gap
    late = rating_plan(mod_factory, group, timingType="custom", timeIn="08:00:00")
    assert mod_factory.post("brand", "RatingPlan", tok, late).status_code == 201  # adds, opens nothing
    refused(mod_factory, "brand", "RatingPlan", tok, "timingType",
            lambda: mod_api.delete("brand", f"/rating_plans/{weekend.json()['id']}", tok))
    body = put_refused(mod_factory, "brand", "RatingPlan", tok, weekend.json()["id"], {"timeIn": "08:00:00"},
                       "timingType")
    assert "saturday 00:00-08:00" in body["detail"]
    # an 'always' plan covers the week on its own: then the partial ones may go
    always = mod_factory.post("brand", "RatingPlan", tok, rating_plan(mod_factory, group, timingType="always"))
    assert always.status_code == 201, always.text
    assert mod_api.delete("brand", f"/rating_plans/{weekend.json()['id']}", tok).status_code == 204
    refused(mod_factory, "brand", "RatingPlan", tok, "timingType",
            lambda: mod_api.delete("brand", f"/rating_plans/{always.json()['id']}", tok))


def _currency(api: Api, tokens: dict[str, str], iden: str) -> int:
    rows = api.get("brand", "/currencies", tokens["brand"], params={"iden": iden}).json()
    assert rows, f"no {iden} currency"
    return int(rows[0]["id"])


def test_rating_profile_currency_must_match_client(mod_api: Api, mod_factory: Factory,
                                                   mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    usd, eur = _currency(mod_api, mod_tokens, "USD"), _currency(mod_api, mod_tokens, "EUR")
    company = mod_factory.create("brand", "Company", tok, currency=eur)["id"]
    dollars = mod_factory.rating_ready_group("brand", tok, currency=usd)
    euros = mod_factory.rating_ready_group("brand", tok, currency=eur)
    body = mod_factory.body("brand", "RatingProfile", tok, company=company, ratingPlanGroup=dollars)
    post_refused(mod_factory, "brand", "RatingProfile", tok, body, "ratingPlanGroup")
    ok = mod_factory.create("brand", "RatingProfile", tok, company=company, ratingPlanGroup=euros)
    put_refused(mod_factory, "brand", "RatingProfile", tok, ok["id"], {"ratingPlanGroup": dollars}, "ratingPlanGroup")
    # a plan group without currency uses the brand's (EUR): accepted
    brand_default = mod_factory.rating_ready_group("brand", tok)
    mod_factory.create("brand", "RatingProfile", tok, company=company, ratingPlanGroup=brand_default)
    # the client cannot move to USD while EUR rating plans are assigned
    put_refused(mod_factory, "brand", "Company", tok, company, {"currency": usd}, "currency")


def test_rating_profile_currency_must_match_carrier(mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    usd = _currency(mod_factory.api, mod_tokens, "USD")
    carrier = mod_factory.create("brand", "Carrier", tok)["id"]  # brand currency (EUR)
    dollars = mod_factory.rating_ready_group("brand", tok, currency=usd)
    body = mod_factory.body("brand", "RatingProfile", tok, company=None, carrier=carrier, ratingPlanGroup=dollars)
    post_refused(mod_factory, "brand", "RatingProfile", tok, body, "ratingPlanGroup")


def test_rating_profile_activation_time_defaults_to_now(mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    body = mod_factory.body("brand", "RatingProfile", tok, ratingPlanGroup=mod_factory.rating_ready_group("brand", tok))
    del body["activationTime"]
    r = mod_factory.post("brand", "RatingProfile", tok, body)
    assert r.status_code == 201, r.text
    assert r.json()["activationTime"] is not None


# ---------------------------------------------------------------------------------------------
# spec 8.14.2 proxy trunks


def test_proxy_trunk_in_use_cannot_be_unassigned_or_deleted(mod_api: Api, mod_factory: Factory,
                                                            mod_tokens: dict[str, str]) -> None:
    god, tok = mod_tokens["platform"], mod_tokens["brand"]
    trunk = mod_factory.create("platform", "ProxyTrunk")["id"]
    spare = mod_factory.create("platform", "ProxyTrunk")["id"]
    rel = mod_factory.create("platform", "ProxyTrunksRelBrand", god, brand=1, proxyTrunk=trunk)["id"]
    carrier = mod_factory.create("brand", "Carrier", tok, proxyTrunk=trunk)["id"]

    refused(mod_factory, "platform", "ProxyTrunksRelBrand", god, "proxyTrunk",
            lambda: mod_api.delete("platform", f"/proxy_trunks_rel_brands/{rel}", god))
    put_refused(mod_factory, "platform", "ProxyTrunksRelBrand", god, rel, {"proxyTrunk": spare}, "proxyTrunk")
    refused(mod_factory, "platform", "ProxyTrunk", god, "proxyTrunk",
            lambda: mod_api.delete("platform", f"/proxy_trunks/{trunk}", god))
    # a DDI provider holds it too
    assert mod_api.put("brand", f"/carriers/{carrier}", tok, {"proxyTrunk": None}).status_code == 200
    provider = mod_factory.create("brand", "DdiProvider", tok, proxyTrunk=trunk)["id"]
    refused(mod_factory, "platform", "ProxyTrunksRelBrand", god, "proxyTrunk",
            lambda: mod_api.delete("platform", f"/proxy_trunks_rel_brands/{rel}", god))
    # once no provider uses it, it can go
    assert mod_api.put("brand", f"/ddi_providers/{provider}", tok, {"proxyTrunk": None}).status_code == 200
    assert mod_api.delete("platform", f"/proxy_trunks_rel_brands/{rel}", god).status_code == 204
    assert mod_api.delete("platform", f"/proxy_trunks/{trunk}", god).status_code == 204


def test_carrier_proxy_trunk_must_be_assigned_to_the_brand(mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    foreign = mod_factory.create("platform", "ProxyTrunk")["id"]
    post_refused(mod_factory, "brand", "Carrier", tok, mod_factory.body("brand", "Carrier", tok, proxyTrunk=foreign),
                 "proxyTrunk")


# ---------------------------------------------------------------------------------------------
# spec 10.1.5 linear queues


@pytest.mark.parametrize("strategy", ["ringall", "rrmemory", "random"])
def test_queue_cannot_be_converted_to_linear(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                             strategy: str) -> None:
    tok = mod_tokens["client"]
    queue = mod_factory.create("client", "Queue", tok, strategy=strategy)
    put_refused(mod_factory, "client", "Queue", tok, queue["id"], {"strategy": "linear"}, "strategy")
    assert mod_api.get("client", f"/queues/{queue['id']}", tok).json()["strategy"] == strategy
    # other changes of strategy are fine; a queue may be created linear
    assert mod_api.put("client", f"/queues/{queue['id']}", tok, {"strategy": "fewestcalls"}).status_code == 200
    assert mod_factory.create("client", "Queue", tok, strategy="linear")["strategy"] == "linear"


# ---------------------------------------------------------------------------------------------
# types, lengths, enums, required fields, references


TYPE_ERRORS = [
    pytest.param("Company", {"maxCalls": "many"}, "maxCalls", id="string-for-integer"),
    pytest.param("Company", {"maxCalls": 1.5}, "maxCalls", id="float-for-integer"),
    pytest.param("Company", {"maxCalls": True}, "maxCalls", id="bool-for-integer"),
    pytest.param("Company", {"maxCalls": -1}, "maxCalls", id="below-minimum"),
    pytest.param("Company", {"type": "bogus"}, "type", id="bad-enum"),
    pytest.param("Company", {"billingMethod": "free"}, "billingMethod", id="bad-enum-2"),
    pytest.param("Company", {"name": "x" * 81}, "name", id="too-long"),
    pytest.param("Company", {"name": ["a"]}, "name", id="list-for-string"),
    pytest.param("Company", {"name": None}, "name", id="null-required"),
    pytest.param("Company", {"ipfilter": "maybe"}, "ipfilter", id="bad-boolean"),
    pytest.param("Company", {"invoicing": {"nif": "n" * 30}}, "invoicing.nif", id="group-member-too-long"),
    pytest.param("Company", {"invoicing": "nif"}, "invoicing", id="group-not-object"),
    pytest.param("Company", {"country": 999999}, "country", id="missing-reference"),
    pytest.param("Company", {"country": "Spain"}, "country", id="reference-not-id"),
    pytest.param("Company", {"featureIds": [999999]}, "featureIds[0]", id="m2m-missing"),
    pytest.param("Company", {"featureIds": 5}, "featureIds", id="m2m-not-list"),
    pytest.param("Carrier", {"balance": "lots"}, "balance", id="bad-number"),
    pytest.param("RatingProfile", {"activationTime": "2024-13-45 00:00:00"}, "activationTime", id="bad-datetime"),
    pytest.param("RatingPlan", {"timeIn": "25:00:00"}, "timeIn", id="bad-time"),
]


@pytest.mark.parametrize(("resource", "patch", "field"), TYPE_ERRORS)
def test_type_errors_on_create(mod_factory: Factory, mod_tokens: dict[str, str], resource: str,
                               patch: dict[str, Any], field: str) -> None:
    tok = mod_tokens["brand"]
    body = {**mod_factory.body("brand", resource, tok), **patch}
    post_refused(mod_factory, "brand", resource, tok, body, field)


@pytest.mark.parametrize(("patch", "field"), [
    ({"name": "renamed", "maxCalls": "many"}, "maxCalls"),
    ({"name": "renamed", "type": "bogus"}, "type"),
    ({"name": "renamed", "invoicing": {"nif": "n" * 30}}, "invoicing.nif"),
    ({"name": "renamed", "country": 999999}, "country"),
])
def test_type_errors_on_update_change_nothing(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str],
                                              patch: dict[str, Any], field: str) -> None:
    tok = mod_tokens["brand"]
    company = mod_factory.create("brand", "Company", tok)
    put_refused(mod_factory, "brand", "Company", tok, company["id"], patch, field)
    assert mod_api.get("brand", f"/companies/{company['id']}", tok).json()["name"] == company["name"]


@pytest.mark.parametrize(("level", "resource"), [
    ("brand", "Company"), ("brand", "Carrier"), ("brand", "RoutingTag"), ("client", "User"), ("client", "Extension"),
    ("client", "Calendar"), ("platform", "Currency"),
])
def test_missing_required_field(mod_factory: Factory, mod_tokens: dict[str, str], level: str, resource: str) -> None:
    tok = mod_tokens[level]
    required = [f for f in exposure(level, resource)["required"]
                if mod_factory.body(level, resource, tok).get(f) is not None]
    field = "name" if "name" in required else required[0]
    body = mod_factory.body(level, resource, tok)
    del body[field]
    post_refused(mod_factory, level, resource, tok, body, field)


def test_body_must_be_a_json_object(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    tok = mod_tokens["brand"]
    assert_problem(mod_api.request("POST", "brand", "/carriers", tok, content=b"{not json",
                                   headers={"content-type": "application/json"}))
    assert_problem(mod_api.post("brand", "/carriers", tok, ["a", "list"]))
    assert_problem(mod_api.request("POST", "brand", "/carriers", tok, content=b""))


@pytest.mark.parametrize(("level", "resource", "field", "target"), [
    ("brand", "Carrier", "transformationRuleSet", "TransformationRuleSet"),
    ("brand", "Ddi", "company", "Company"),
    ("brand", "RatingProfile", "ratingPlanGroup", "RatingPlanGroup"),
    ("brand", "OutgoingRouting", "routingTag", "RoutingTag"),
    ("client", "User", "callAcl", "CallAcl"),
    ("client", "Extension", "user", "User"),
    ("client", "HolidayDate", "calendar", "Calendar"),
])
def test_reference_to_another_tenants_row(mod_factory: Factory, mod_tokens: dict[str, str], other: Tenant,
                                          level: str, resource: str, field: str, target: str) -> None:
    foreign = mod_factory.ref(level, target, other.tokens[level])
    tok = mod_tokens[level]
    post_refused(mod_factory, level, resource, tok, mod_factory.body(level, resource, tok, **{field: foreign}), field)
    mine = mod_factory.create(level, resource, tok)
    put_refused(mod_factory, level, resource, tok, mine["id"], {field: foreign}, field)


def test_brand_lists_only_its_proxy_trunks_and_new_brands_get_the_main_one(
        mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    """Spec 8.14.2: each brand has at least one proxy trunks address (a new brand gets the main
    entry) and a brand operator sees the addresses assigned to it, not the others."""
    god, tok = mod_tokens["platform"], mod_tokens["brand"]
    main = min(r["id"] for r in mod_api.get("platform", "/proxy_trunks", god).json())
    unassigned = mod_factory.create("platform", "ProxyTrunk")["id"]
    listed = {r["id"] for r in mod_api.get("brand", "/proxy_trunks", tok).json()}
    assert main in listed and unassigned not in listed
    assert mod_api.get("brand", f"/proxy_trunks/{unassigned}", tok).status_code == 404
    brand = mod_factory.create("platform", "Brand")["id"]
    assert mod_api.get("platform", f"/brands/{brand}", god).json()["proxyTrunks"] == [main]
    mod_api.delete("platform", f"/proxy_trunks/{unassigned}", god)


def test_a_brand_keeps_at_least_one_proxy_trunks_address(mod_api: Api, mod_factory: Factory,
                                                         mod_tokens: dict[str, str]) -> None:
    """Spec 8.14.2: "each brand must have at least one address"."""
    god = mod_tokens["platform"]
    brand = mod_factory.create("platform", "Brand")["id"]
    [main] = mod_api.get("platform", f"/brands/{brand}", god).json()["proxyTrunks"]
    r = mod_api.put("platform", f"/brands/{brand}", god, {"proxyTrunks": []})
    assert r.status_code == 400 and "proxyTrunks" in r.text, r.text
    rels = mod_api.get("platform", "/proxy_trunks_rel_brands", god, params={"brand": brand}).json()
    assert [x["proxyTrunk"] for x in rels] == [main]
    r = mod_api.delete("platform", f"/proxy_trunks_rel_brands/{rels[0]['id']}", god)
    assert r.status_code == 400 and "at least one" in r.text, r.text
    spare = mod_factory.create("platform", "ProxyTrunk")["id"]
    assert mod_api.put("platform", f"/brands/{brand}", god, {"proxyTrunks": [spare]}).status_code == 200
    assert mod_api.get("platform", f"/brands/{brand}", god).json()["proxyTrunks"] == [spare]
