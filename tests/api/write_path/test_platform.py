"""Platform entities (rules.platform): application servers, proxy users, default sets,
media relays and reference data."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def test_application_server_address(w: W) -> None:
    w.refused("/application_servers", "ip", "platform", name="as", ip="as.example.com")
    w.refused("/application_servers", "ip", "platform", name="as", ip="127.0.0.1:99999")
    a = w.create("/application_servers", "platform", name="as", ip="127.0.0.1:6061")
    assert a["ip"] == "127.0.0.1:6061"
    w.create("/application_servers", "platform", name="as6", ip="[::1]:6062")


def test_proxy_user_addresses(w: W) -> None:
    w.refused("/proxy_users", "advertisedIp", "platform", name="pu", ip="192.0.2.1", advertisedIp="x")
    main = w.api.get("platform", "/proxy_users", w.tok("platform")).json()
    if main:
        r = w.api.delete("platform", f"/proxy_users/{min(p['id'] for p in main)}", w.tok("platform"))
        assert r.status_code == 400, r.text


def test_default_sets_stay(w: W) -> None:
    for path in ("/application_server_sets", "/media_relay_sets"):
        first = min(s["id"] for s in w.api.get("platform", path, w.tok("platform")).json())
        r = w.api.delete("platform", f"{path}/{first}", w.tok("platform"))
        assert r.status_code == 403, r.text


def test_rtpengine_url(w: W) -> None:
    base: dict[str, Any] = {"mediaRelaySet": 1, "weight": 1, "disabled": False, "setid": 0, "stamp": "2024-01-01 00:00:00"}
    w.refused("/rtpengines", "url", "platform", **base, url="rtpengine.example.com")
    r = w.create("/rtpengines", "platform", **base, url="udp:127.0.0.1:22223")
    assert r["url"] == "udp:127.0.0.1:22223"


def test_reference_data(w: W) -> None:
    """Countries and timezones are written by the reference loaders and the CLI (the API reads
    them only): the rules refuse what the call path cannot use."""
    import pytest

    from polyvox.api.errors import ApiError
    from polyvox.api.writer import Writer

    with w.db.begin() as conn, pytest.raises(ApiError) as e:
        Writer(conn).create("Timezone", tz="Mars/Olympus", comment="", label={"en": "x", "es": "x"})
    assert e.value.field == "tz"
    with w.db.begin() as conn, pytest.raises(ApiError) as e:
        Writer(conn).create("Country", code="XQ", countryCode="34", name={"en": "x", "es": "x"})
    assert e.value.field == "countryCode"
