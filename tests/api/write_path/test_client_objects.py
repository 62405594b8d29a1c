"""Queues, IVRs, faxes, conference rooms, match lists, outgoing DDI rules, voicemails, webhooks,
service codes and the names a client keeps unique (rules.queues, ivrs, faxes, client_misc,
match_lists, outgoing_ddi_rules, voicemails, uniqueness)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.write_path.conftest import W


def test_queue_name_is_a_media_server_name(w: W) -> None:
    """IvozProvider Queue::setName: letters, digits, '_' and '-'."""
    w.refused("/queues", "name", name="sales queue", strategy="ringall", preventMissedCalls=1)


def test_queue_zero_limits_mean_none(w: W) -> None:
    q = w.create("/queues", name=f"q{w.n()}", strategy="ringall", preventMissedCalls=1, maxWaitTime=0, maxlen=0)
    assert q["maxWaitTime"] is None and q["maxlen"] is None


def test_queue_does_not_become_linear(w: W) -> None:
    q = w.create("/queues", name=f"q{w.n()}", strategy="ringall", preventMissedCalls=1)
    w.refused("/queues", "strategy", ident=q["id"], strategy="linear")


def test_ivr_waits_a_positive_time(w: W) -> None:
    w.refused("/ivrs", "timeout", name=f"ivr{w.n()}", timeout=0, maxDigits=0, allowExtensions=False)


def test_fax_email(w: W) -> None:
    w.refused("/faxes", "email", name=f"fax{w.n()}", sendByEmail=True)
    f = w.create("/faxes", name=f"fax{w.n()}", sendByEmail=False, email="x@example.com")
    assert f["email"] is None


def test_conference_room_pin(w: W) -> None:
    base: dict[str, Any] = {"announceUserCount": "always", "maxMembers": 0}
    w.refused("/conference_rooms", "pinCode", name=f"cr{w.n()}", pinProtected=True, **base)
    room = w.create("/conference_rooms", name=f"cr{w.n()}", pinProtected=False, pinCode="1234", **base)
    assert room["pinCode"] is None


def test_service_code_characters(w: W) -> None:
    r = w.api.get("client", "/services", w.tok("client"), params={"_itemsPerPage": 1})
    w.refused("/company_services", "code", service=r.json()[0]["id"], code="ab")


def test_match_list_pattern_values(w: W) -> None:
    ml = w.create("/match_lists", name=f"ml{w.n()}")
    w.refused("/match_list_patterns", "numbervalue", matchList=ml["id"], type="number")
    w.refused("/match_list_patterns", "numberCountry", matchList=ml["id"], type="number", numbervalue="600")
    w.refused("/match_list_patterns", "regexp", matchList=ml["id"], type="regexp", regexp="^(6")
    p = w.create("/match_list_patterns", matchList=ml["id"], type="regexp", regexp="^6", numbervalue="600")
    assert p["numbervalue"] is None
    other = w.create("/match_lists", name=f"ml{w.n()}")
    w.refused("/match_list_patterns", "matchList", ident=p["id"], status=403, matchList=other["id"])


def test_outgoing_ddi_rule_forced_ddi(w: W) -> None:
    w.refused("/outgoing_ddi_rules", "forcedDdi", name=f"o{w.n()}", defaultAction="force")
    rule = w.create("/outgoing_ddi_rules", name=f"o{w.n()}", defaultAction="keep")
    w.refused("/outgoing_ddi_rules_patterns", "forcedDdi", outgoingDdiRule=rule["id"], type="prefix", prefix="0*",
              action="force", priority=1)


def test_users_join_only_generic_voicemails(w: W) -> None:
    """IvozProvider VoicemailRelUser/CheckGenericVoicemail. The API does not write the relation;
    the writers without a request (CLI, imports) go through the same engine."""
    from polyvox.api.errors import ApiError
    from polyvox.api.writer import Writer

    u = w.user()
    own = w.row("User", u["id"])["voicemailId"]  # type: ignore[index]
    with w.db.begin() as conn:
        with pytest.raises(ApiError) as e:
            Writer(conn).update("Voicemail", own, relUserIds=[2])
        assert e.value.status == 400 and e.value.field == "relUserIds"
        generic = Writer(conn).create("Voicemail", company=1, name="generic", relUserIds=[2])
    assert w.row("Voicemail", generic) is not None


def test_voicemail_sending_mail_needs_email(w: W) -> None:
    w.refused("/voicemails", "email", company=1, name=f"vm{w.n()}", enabled=True, sendMail=True, attachSound=False)


def test_webhook_needs_an_event(w: W) -> None:
    w.refused("/webhooks", "eventStart", name=f"wh{w.n()}", uri="https://hooks.example.com/x", template="{}",
              callDirection="both", eventStart=False, eventRing=False, eventAnswer=False, eventEnd=False,
              eventUpdateClid=False)


@pytest.mark.parametrize(("path", "body"), [
    ("/hunt_groups", {"description": "", "strategy": "ringAll", "ringAllTimeout": 5, "preventMissedCalls": 1,
                      "allowCallForwards": 0}),
    ("/queues", {"strategy": "ringall", "preventMissedCalls": 1}),
    ("/ivrs", {"timeout": 5, "maxDigits": 0, "allowExtensions": False}),
    ("/calendars", {}),
    ("/schedules", {"timeIn": "08:00:00", "timeout": "09:00:00"}),
    ("/pick_up_groups", {}),
    ("/call_acls", {"defaultPolicy": "allow"}),
])
def test_names_are_unique_in_the_client(w: W, path: str, body: dict[str, Any]) -> None:
    name = f"same{w.n()}"
    w.create(path, name=name, **body)
    w.refused(path, "name", name=name, **body)


def test_call_acl_rule_keeps_its_list(w: W) -> None:
    acl = w.create("/call_acls", name=f"acl{w.n()}", defaultPolicy="deny")
    ml, other = (w.create("/match_lists", name=f"ml{w.n()}") for _ in range(2))
    rule = w.create("/call_acl_rel_match_lists", callAcl=acl["id"], matchList=ml["id"], policy="allow", priority=1)
    w.refused("/call_acl_rel_match_lists", "matchList", ident=rule["id"], matchList=other["id"])
    w.refused("/call_acl_rel_match_lists", "priority", callAcl=acl["id"], matchList=other["id"], policy="deny",
              priority=1)


def test_queue_needs_a_strategy(w: W) -> None:
    w.refused("/queues", "strategy", name=f"q{w.n()}", preventMissedCalls=1)


def test_deleted_forced_ddi_falls_back_to_keep(w: W) -> None:
    ddi = w.create("/ddis", level="brand", company=1, ddi=str(944500000 + w.n()), type="inout",
                   useDdiProviderRoutingTag=False, country=w.country())
    rule = w.create("/outgoing_ddi_rules", name=f"o{w.n()}", defaultAction="force", forcedDdi=ddi["id"])
    w.delete("/ddis", ddi["id"], level="brand")
    got = w.get("/outgoing_ddi_rules", rule["id"])
    assert got is not None and got["defaultAction"] == "keep" and got["forcedDdi"] is None
