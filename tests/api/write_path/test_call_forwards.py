"""Call forward settings (rules.call_forwards): IvozProvider CallForwardSetting::sanitizeValues
and CallForwardSetting/CheckUniqueness."""

from __future__ import annotations

from typing import Any

from tests.api.write_path.conftest import W


def cfw(w: W, **body: Any) -> dict[str, Any]:
    base = {"callForwardType": "busy", "callTypeFilter": "both", "enabled": True, "noAnswerTimeout": 10,
            "targetType": "number", "numberValue": "600000000", "numberCountry": w.country()}
    return {**base, **body}


def test_one_enabled_forward_per_type_and_call_type(w: W) -> None:
    u = w.user()
    w.create("/call_forward_settings", **cfw(w, user=u["id"], callTypeFilter="internal"))
    w.refused("/call_forward_settings", "callForwardType", **cfw(w, user=u["id"], callTypeFilter="both"))
    w.create("/call_forward_settings", **cfw(w, user=u["id"], callTypeFilter="external"))
    w.create("/call_forward_settings", **cfw(w, user=u["id"], callTypeFilter="both", enabled=False))


def test_timeout_only_for_no_answer(w: W) -> None:
    u = w.user()
    c = w.create("/call_forward_settings", **cfw(w, user=u["id"], noAnswerTimeout=25))
    assert c["noAnswerTimeout"] == 0
    w.refused("/call_forward_settings", "noAnswerTimeout",
              **cfw(w, user=u["id"], callForwardType="noAnswer", noAnswerTimeout=0))


def test_forward_has_one_owner(w: W) -> None:
    w.refused("/call_forward_settings", "user", **cfw(w))


def test_forward_target_is_demanded(w: W) -> None:
    u = w.user()
    w.refused("/call_forward_settings", "extension", **cfw(w, user=u["id"], targetType="extension"))
    w.refused("/call_forward_settings", "cfwToRetailAccount", **cfw(w, user=u["id"], targetType="retail"))


def test_retail_forwards(w: W) -> None:
    """Retail accounts forward unconditionally or when not registered, for all call types, maybe
    for one DDI; deleting that DDI deletes the forward."""
    from tests.api.factory import Factory

    factory, n = Factory(w.api, w.tokens), w.n()
    retail = factory.create("brand", "Company", w.tok("brand"), name=f"Shop{n}", type="retail")
    factory.create("brand", "Administrator", w.tok("brand"), company=retail["id"], username=f"shop{n}",
                   email=f"shop{n}@example.com", restricted=False, canImpersonate=True, active=True,
                   **{"pass": "S3cret-pass"})
    tok = w.api.login("client", f"shop{n}", "S3cret-pass")
    acc = w.create("/retail_accounts", level="brand", company=retail["id"], name=f"acc{n}", description="",
                   directConnectivity="yes", transport="udp", ip="192.0.2.80", port=5060)
    ddi = w.create("/ddis", level="brand", company=retail["id"], ddi=str(944600000 + n), type="inout",
                   useDdiProviderRoutingTag=False, country=w.country())
    body = cfw(w, retailAccount=acc["id"], callForwardType="busy", callTypeFilter="internal", ddi=ddi["id"])
    r = w.api.post("client", "/call_forward_settings", tok, body)
    assert r.status_code == 400 and r.json()["violations"][0]["propertyPath"] == "callForwardType", r.text
    r = w.api.post("client", "/call_forward_settings", tok, {**body, "callForwardType": "inconditional"})
    assert r.status_code == 201, r.text
    assert r.json()["callTypeFilter"] == "both"
    w.delete("/ddis", ddi["id"], level="brand")
    assert w.row("CallForwardSetting", r.json()["id"]) is None
