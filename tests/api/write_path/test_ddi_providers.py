"""DDI providers, addresses and registrations (rules.ddi_providers, rules.carriers)."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W
from tests.api.write_path.test_carriers import rule_set


def provider(w: W, **body: Any) -> dict[str, Any]:
    return w.create("/ddi_providers", "brand", **{"name": f"prov{w.n()}", "description": "",
                                                  "transformationRuleSet": rule_set(w), **body})


def test_address_is_an_ip(w: W) -> None:
    p = provider(w)
    w.refused("/ddi_provider_addresses", "ip", "brand", ddiProvider=p["id"], ip="provider.example.com")
    a = w.create("/ddi_provider_addresses", "brand", ddiProvider=p["id"], ip=" 198.51.100.9 ")
    assert a["ip"] == "198.51.100.9"


def _registration(p: int, **body: Any) -> dict[str, Any]:
    return {"ddiProvider": p, "username": "user", "domain": "sip.example.com", "realm": "", "authUsername": "",
            "authPassword": " pw ", "authProxy": "", "expires": 3600, "multiDdi": False, "contactUsername": "c",
            **body}


def test_registration_needs_user_and_domain(w: W) -> None:
    p = provider(w)["id"]
    w.refused("/ddi_provider_registrations", "username", "brand", **_registration(p, username=" "))
    w.refused("/ddi_provider_registrations", "domain", "brand", **_registration(p, domain=""))


def test_multi_ddi_registration_has_no_contact_user(w: W) -> None:
    p = provider(w)["id"]
    r = w.create("/ddi_provider_registrations", "brand", **_registration(p, multiDdi=True))
    assert r["contactUsername"] == "" and r["authPassword"] == "pw"
