"""Collection conventions of the IvozProvider API: filters, ordering, paging, formats."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api import factory as fx
from tests.api.conftest import Api
from tests.api.factory import (
    Factory,
    assert_problem,
    unique,
)

# module-scoped application and data (tests/api/factory.py)
mod_api, mod_db, mod_factory, mod_tokens = fx.mod_api, fx.mod_db, fx.mod_factory, fx.mod_tokens

NAMES = ("alpha", "beta", "delta", "epsilon", "gamma")
BALANCES = (10, 20, 30, 40, 50)


class Data:
    def __init__(self, api: Api, factory: Factory, tokens: dict[str, str]) -> None:
        self.api, self.factory, self.tokens = api, factory, tokens
        self.p = f"Qry{unique()}x"
        self.trs1 = factory.ref("brand", "TransformationRuleSet", tokens["brand"])
        self.trs2 = factory.ref("brand", "TransformationRuleSet", tokens["brand"])
        self.trunk = factory.pick("brand", "ProxyTrunk", tokens["brand"])
        self.carriers: dict[str, dict[str, Any]] = {}
        for i, (name, balance) in enumerate(zip(NAMES, BALANCES, strict=True)):
            extra: dict[str, Any] = {"proxyTrunk": self.trunk} if name == "alpha" else {}
            self.carriers[name] = factory.create(
                "brand", "Carrier", name=f"{self.p}-{name}", description=f"Carrier number {i} ({name.upper()})",
                balance=balance, calculateCost=i % 2 == 0, transformationRuleSet=self.trs1 if i < 2 else self.trs2,
                **extra)

    def ids(self, *names: str) -> list[int]:
        return [self.carriers[n]["id"] for n in names]

    def carriers_where(self, **params: Any) -> list[int]:
        r = self.api.get("brand", "/carriers", self.tokens["brand"],
                         params={"name[start]": self.p, **params})
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]


@pytest.fixture(scope="module")
def data(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> Data:
    return Data(mod_api, mod_factory, mod_tokens)


# ---------------------------------------------------------------------------------------------
# filters


@pytest.mark.parametrize(("params", "expected"), [
    pytest.param({}, NAMES, id="start-only"),
    pytest.param({"name": "{p}-beta"}, ("beta",), id="implicit-exact"),
    pytest.param({"name[exact]": "{p}-delta"}, ("delta",), id="exact"),
    pytest.param({"name[exact]": "{p}-del"}, (), id="exact-is-not-prefix"),
    pytest.param({"name[partial]": "psil"}, ("epsilon",), id="partial"),
    pytest.param({"description[partial]": "(GAM"}, ("gamma",), id="partial-special-char"),
    pytest.param({"name[end]": "a"}, ("alpha", "beta", "delta", "gamma"), id="end"),
    pytest.param({"name[neq]": "{p}-alpha"}, ("beta", "delta", "epsilon", "gamma"), id="neq"),
    pytest.param({"balance[gt]": "30"}, ("epsilon", "gamma"), id="gt"),
    pytest.param({"balance[gte]": "30"}, ("delta", "epsilon", "gamma"), id="gte"),
    pytest.param({"balance[lt]": "30"}, ("alpha", "beta"), id="lt"),
    pytest.param({"balance[lte]": "30"}, ("alpha", "beta", "delta"), id="lte"),
    pytest.param({"balance[between]": "20..40"}, ("beta", "delta", "epsilon"), id="between"),
    pytest.param({"balance": "20"}, ("beta",), id="number-exact"),
    pytest.param({"calculateCost": "true"}, ("alpha", "delta", "gamma"), id="bool-true"),
    pytest.param({"calculateCost": "0"}, ("beta", "epsilon"), id="bool-0"),
    pytest.param({"proxyTrunk[exists]": "true"}, ("alpha",), id="exists-op"),
    pytest.param({"exists[proxyTrunk]": "false"}, ("beta", "delta", "epsilon", "gamma"), id="exists-prefix"),
    pytest.param({"transformationRuleSet": "{trs1}"}, ("alpha", "beta"), id="ref"),
    pytest.param({"transformationRuleSet[neq]": "{trs1}"}, ("delta", "epsilon", "gamma"), id="ref-neq"),
    pytest.param({"name[]": ["{p}-alpha", "{p}-gamma", "nope"]}, ("alpha", "gamma"), id="list"),
    pytest.param({"transformationRuleSet[]": ["{trs1}", "{trs2}"]}, NAMES, id="ref-list"),
    pytest.param({"balance[gte]": "20", "calculateCost": "false"}, ("beta", "epsilon"), id="and"),
])
def test_filter(data: Data, params: dict[str, Any], expected: tuple[str, ...]) -> None:
    def fill(v: str) -> str:
        return v.format(p=data.p, trs1=data.trs1, trs2=data.trs2)

    query = {k: [fill(x) for x in v] if isinstance(v, list) else fill(v) for k, v in params.items()}
    assert data.carriers_where(**query) == data.ids(*expected)


def test_id_filters(data: Data) -> None:
    a, c = data.carriers["alpha"]["id"], data.carriers["gamma"]["id"]
    assert data.carriers_where(**{"id[]": [str(a), str(c)]}) == [a, c]
    assert data.carriers_where(id=str(a)) == [a]
    assert data.carriers_where(**{"id[gt]": str(a)}) == data.ids("beta", "delta", "epsilon", "gamma")


def test_nested_group_filters(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok, p = mod_tokens["brand"], f"N{unique()}x"
    c1 = mod_factory.create("brand", "Company", name=f"{p}-one", invoicing={"nif": f"{p}A1", "town": "Bilbao"})
    c2 = mod_factory.create("brand", "Company", name=f"{p}-two", invoicing={"nif": f"{p}B2", "town": "Getxo"})

    def companies(**params: str) -> list[int]:
        r = mod_api.get("brand", "/companies", tok, params=params)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert companies(**{"invoicing.nif": f"{p}B2"}) == [c2["id"]]
    assert companies(**{"invoicing.nif[start]": p}) == [c1["id"], c2["id"]]
    assert companies(**{"invoicing.nif[start]": p, "invoicing.town": "Bilbao"}) == [c1["id"]]
    assert companies(**{"invoicing.nif[start]": p, "_order[invoicing.nif]": "DESC"}) == [c2["id"], c1["id"]]
    listed = mod_api.get("brand", "/companies", tok, params={"invoicing.nif": f"{p}A1"}).json()
    assert listed[0]["invoicing"]["nif"] == f"{p}A1"

    d1 = mod_factory.create("brand", "Destination", name={"en": f"{p} Spain mobile", "es": "Movil"})
    mod_factory.create("brand", "Destination", name={"en": f"{p} Spain fixed", "es": "Fijo"})
    r = mod_api.get("brand", "/destinations", tok, params={"name.en[partial]": f"{p} Spain mob"})
    assert [x["id"] for x in r.json()] == [d1["id"]]
    r = mod_api.get("brand", "/destinations", tok, params={"name.en[start]": p, "name.es": "Fijo"})
    assert [x["name"]["en"] for x in r.json()] == [f"{p} Spain fixed"]


def test_date_filters(mod_api: Api, mod_factory: Factory, mod_tokens: dict[str, str]) -> None:
    tok, p = mod_tokens["client"], f"H{unique()}x"
    cal = mod_factory.create("client", "Calendar")["id"]
    days = ("2030-01-10", "2030-06-10", "2030-12-10")
    ids = [mod_factory.create("client", "HolidayDate", calendar=cal, name=f"{p}{i}", eventDate=d)["id"]
           for i, d in enumerate(days)]

    def holidays(**params: str) -> list[int]:
        r = mod_api.get("client", "/holiday_dates", tok, params={"calendar": str(cal), **params})
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert holidays() == ids
    assert holidays(**{"eventDate[after]": "2030-06-10"}) == ids[1:]
    assert holidays(**{"eventDate[strictly_after]": "2030-06-10"}) == ids[2:]
    assert holidays(**{"eventDate[before]": "2030-06-10"}) == ids[:2]
    assert holidays(**{"eventDate[strictly_before]": "2030-06-10"}) == ids[:1]
    assert holidays(eventDate="2030-12-10") == ids[2:]
    assert holidays(**{"_order[eventDate]": "DESC"}) == ids[::-1]


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"nonexistent": "1"}, "nonexistent", id="unknown-field"),
    pytest.param({"nonexistent[partial]": "1"}, "nonexistent", id="unknown-field-op"),
    pytest.param({"invoice.nif": "1"}, "invoice.nif", id="unknown-group"),
    pytest.param({"_order[nonexistent]": "ASC"}, None, id="unknown-order"),
    pytest.param({"_order[name]": "SIDEWAYS"}, None, id="bad-direction"),
    pytest.param({"balance[start]": "1"}, None, id="op-not-for-numbers"),
    pytest.param({"balance[gt]": "lots"}, None, id="not-a-number"),
    pytest.param({"_page": "first"}, "_page", id="page-not-int"),
    pytest.param({"_itemsPerPage": "0"}, "_itemsPerPage", id="per-page-zero"),
    pytest.param({"_properties[]": "nonexistent"}, "_properties", id="unknown-property"),
])
def test_bad_query_is_400_problem(mod_api: Api, mod_tokens: dict[str, str], params: dict[str, str],
                                  field: str | None) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"], params=params)
    assert_problem(r, field)


# ---------------------------------------------------------------------------------------------
# ordering and paging


def test_order(data: Data) -> None:
    assert data.carriers_where(**{"_order[name]": "DESC"}) == data.ids(*sorted(NAMES, reverse=True))
    assert data.carriers_where(**{"_order[name]": "asc"}) == data.ids(*sorted(NAMES))
    assert data.carriers_where(**{"_order[balance]": "DESC"}) == data.ids(*NAMES[::-1])
    # ties keep a stable order (by id), secondary keys apply in the order given
    assert data.carriers_where(**{"_order[calculateCost]": "DESC", "_order[balance]": "DESC"}) == \
        data.ids("gamma", "delta", "alpha", "epsilon", "beta")


def test_paging_headers_and_pages(data: Data, mod_api: Api, mod_tokens: dict[str, str]) -> None:
    params = {"name[start]": data.p, "_itemsPerPage": "2"}
    seen: list[int] = []
    for page, expected in ((1, ("alpha", "beta")), (2, ("delta", "epsilon")), (3, ("gamma",))):
        r = mod_api.get("brand", "/carriers", mod_tokens["brand"], params={**params, "_page": str(page)})
        assert r.status_code == 200
        assert r.headers["X-Total-Items"] == "5"
        assert r.headers["X-Total-Pages"] == "3"
        assert [x["id"] for x in r.json()] == data.ids(*expected)
        seen += [x["id"] for x in r.json()]
        if page < 3:
            nxt = dict(parse_qsl(urlsplit(r.headers["X-Next-Page"]).query))
            assert nxt["_page"] == str(page + 1)
            assert nxt["name[start]"] == data.p and nxt["_itemsPerPage"] == "2"
            assert urlsplit(r.headers["X-Next-Page"]).path == "/api/brand/carriers"
        else:
            assert "X-Next-Page" not in r.headers
    assert seen == data.ids(*NAMES)
    # past the last page: an empty page, same totals
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"], params={**params, "_page": "9"})
    assert r.json() == [] and r.headers["X-Total-Items"] == "5"


def test_pagination_false_returns_everything(data: Data, mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"],
                    params={"name[start]": data.p, "_itemsPerPage": "2", "_pagination": "false"})
    assert [x["id"] for x in r.json()] == data.ids(*NAMES)
    assert r.headers["X-Total-Items"] == "5" and r.headers["X-Total-Pages"] == "1"
    assert "X-Next-Page" not in r.headers


def test_default_page_size_is_30(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/timezones", mod_tokens["brand"])
    total = int(r.headers["X-Total-Items"])
    assert total > 30
    assert len(r.json()) == 30
    assert r.headers["X-Total-Pages"] == str(-(-total // 30))


def test_properties_select_fields(data: Data, mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"],
                    params=[("name[start]", data.p), ("_properties[]", "name"), ("_properties[]", "balance")])
    assert r.status_code == 200
    assert [sorted(x) for x in r.json()] == [["balance", "id", "name"]] * 5
    assert r.json()[0] == {"id": data.carriers["alpha"]["id"], "name": f"{data.p}-alpha", "balance": 10}
    ident = data.carriers["beta"]["id"]
    r = mod_api.get("brand", f"/carriers/{ident}", mod_tokens["brand"], params=[("_properties[]", "description")])
    assert r.json() == {"id": ident, "description": "Carrier number 1 (BETA)"}


# ---------------------------------------------------------------------------------------------
# formats


def test_json_ld_collection_and_item(data: Data, mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"], params={"name[start]": data.p},
                    headers={"Accept": "application/ld+json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/ld+json")
    body = r.json()
    assert body["hydra:totalItems"] == 5
    members = body["hydra:member"]
    assert [m["id"] for m in members] == data.ids(*NAMES)
    assert members[0]["@id"] == f"/api/brand/carriers/{data.carriers['alpha']['id']}"
    assert members[0]["@type"] == "Carrier" and members[0]["name"] == f"{data.p}-alpha"
    item = mod_api.get("brand", members[1]["@id"][len("/api/brand"):], mod_tokens["brand"],
                       headers={"Accept": "application/ld+json"}).json()
    assert item["@id"] == members[1]["@id"] and item["name"] == f"{data.p}-beta"
    # an IRI is accepted wherever an id is
    c = mod_api.post("brand", "/carriers", mod_tokens["brand"],
                     {"name": f"{data.p}-iri", "description": "", "transformationRuleSet":
                      f"/api/brand/transformation_rule_sets/{data.trs2}"}, headers={"Accept": "application/ld+json"})
    assert c.status_code == 201, c.text
    assert c.json()["@id"] == f"/api/brand/carriers/{c.json()['id']}" and c.json()["transformationRuleSet"] == data.trs2
    assert mod_api.delete("brand", f"/carriers/{c.json()['id']}", mod_tokens["brand"]).status_code == 204


def test_csv_collection(data: Data, mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"], params={"name[start]": data.p, "_order[name]": "DESC"},
                    headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    header, body = rows[0], rows[1:]
    assert header[0] == "id" and {"name", "balance", "description"} <= set(header)
    assert len(body) == 5
    by_name = [dict(zip(header, row, strict=True)) for row in body]
    assert [x["name"] for x in by_name] == [f"{data.p}-{n}" for n in sorted(NAMES, reverse=True)]
    assert by_name[-1]["id"] == str(data.carriers["alpha"]["id"]) and float(by_name[-1]["balance"]) == 10
    assert r.headers["X-Total-Items"] == "5"


def test_csv_group_columns(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/companies", mod_tokens["brand"], params={"name": "DemoCompany"},
                    headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    assert rows[0]["name"] == "DemoCompany" and rows[0]["invoicing.nif"] == "87654321B"


def test_unsupported_format_is_406(mod_api: Api, mod_tokens: dict[str, str]) -> None:
    r = mod_api.get("brand", "/carriers", mod_tokens["brand"], headers={"Accept": "application/xml"})
    assert_problem(r, status=406)
