"""Filters and ordering through relations, as IvozProvider's contract declares them
(``schedule.name``, ``terminal.name``, ``invoicing.nif``)."""

from __future__ import annotations

from tests.api.conftest import Api


def test_filter_and_order_by_related_field(api: Api, tokens: dict[str, str]) -> None:
    t = tokens["client"]
    r = api.get("client", "/users?terminal.name=bob", t)
    assert r.status_code == 200, r.text
    assert [u["name"] for u in r.json()] == ["Bob"]
    r = api.get("client", "/users?_order[terminal.name]=DESC", t)
    assert [u["name"] for u in r.json()] == ["Bob", "Alice"]
    r = api.get("client", "/users?extension.number[start]=10", t)
    assert len(r.json()) == 2
    assert api.get("client", "/users?terminal.nope=1", t).status_code == 400


def test_related_filter_never_leaks_other_tenants(api: Api, tokens: dict[str, str]) -> None:
    # filtering by a related field still returns only rows in scope
    r = api.get("brand", "/companies?country.code=ES", tokens["brand"])
    assert [c["name"] for c in r.json()] == ["DemoCompany"]
