"""Sipwise C5 contacts (spec 004) attached to brands and clients."""

from __future__ import annotations

from tests.api.conftest import Api


def test_004_contact_requires_only_an_email(api: Api, tokens: dict[str, str]) -> None:
    r = api.post("brand", "/contacts", tokens["brand"], {"name": "Rylic Longstaff"})
    assert r.status_code == 400
    assert r.json()["violations"][0]["propertyPath"] == "email"
    r = api.post("brand", "/contacts", tokens["brand"], {"email": "rylic@dts.example"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "rylic"


def test_004_external_number_tells_apart_clients_sharing_a_contact(api: Api, tokens: dict[str, str]) -> None:
    for ext in ("0007", "0008"):
        r = api.post("brand", "/contacts", tokens["brand"],
                     {"name": "Rylic Longstaff", "email": "rylic@dts.example", "externalNumber": ext, "company": 1})
        assert r.status_code == 201, r.text
    listed = api.get("client", "/contacts", tokens["client"]).json()
    assert sorted(c["externalNumber"] for c in listed) == ["0007", "0008"]
    # brand-level contacts (no client) are not the client's
    api.post("brand", "/contacts", tokens["brand"], {"email": "brand@example.com"})
    assert len(api.get("client", "/contacts", tokens["client"]).json()) == 2
    assert len(api.get("brand", "/contacts", tokens["brand"]).json()) == 3
    assert len(api.get("platform", "/contacts", tokens["platform"]).json()) == 3


def test_client_contact_needs_email(api: Api, tokens: dict[str, str]) -> None:
    r = api.post("client", "/contacts", tokens["client"], {"name": "No mail"})
    assert r.status_code == 400
    r = api.post("client", "/contacts", tokens["client"], {"name": "Mail", "email": "not-an-email"})
    assert r.status_code == 400
    assert api.get("client", "/contacts", tokens["client"]).json() == []
