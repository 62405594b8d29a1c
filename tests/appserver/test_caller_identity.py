"""Caller identity presented to internal targets (IvozProvider: the terminal's PJSIP endpoint has
``callerid = "<name> <lastname> <<extension>>"``, KamUsers formats other numbers with the callee's
``callerout`` rules in From and P-Asserted-Identity; docs/appserver-dialplan.md §3.1).

Every endpoint target carries the identity in ``from_user`` / ``pai_user`` / ``from_name`` (the
runtime writes them in the From and the P-Asserted-Identity of the leg); external targets keep
the outgoing DDI and get no PAI.
"""

from __future__ import annotations

import datetime as dt

from polyvox.appserver.plan import CallEnded, Disposition, Target, TargetKind
from tests.appserver.conftest import NOW, World, header, only
from tests.appserver.test_friends import _friend


def shown(t: Target) -> tuple[str | None, str | None, str | None]:
    """(From user, PAI user, display name) of a target."""
    return t.from_user, t.pai_user, t.from_name


def test_user_is_presented_by_its_extension_and_full_name_and_the_registry_keeps_it(world: World) -> None:
    """Whatever the phone puts in From (its terminal name), the callee sees the screen extension
    and "name lastname"; the users_cdrs rows keep the extension as caller."""
    carol, dave = world.user("Carol", "150"), world.user("Dave", "151")
    call = world.from_user(carol, "151")
    assert call.caller == "carol"  # what proxy-users sends: the From user of the terminal
    t = only(world.run(call)[0])
    assert (t.kind, t.ruri_user, t.user_id) == (TargetKind.ENDPOINT, "dave", dave)
    assert shown(t) == ("150", "150", "Carol Test")
    end = CallEnded(Disposition.ANSWERED, NOW, NOW + dt.timedelta(seconds=5), answered_at=NOW, answered_by=t)
    rows = world.dialplan.registry.rows(call, end)
    assert [(r["direction"], r["userId"], r["caller"], r["callee"], r["owner"]) for r in rows] == [
        ("outbound", carol, "150", "151", "150"), ("inbound", dave, "150", "151", "151")]


def test_user_without_extension_shows_what_its_phone_sent(world: World) -> None:
    """IvozProvider's endpoint callerid is then "Name Lastname <>": no number, so Asterisk takes
    number and display name from the From header (the terminal name, the phone's display name)."""
    erin = world.user("Erin", None)
    assert shown(only(world.run(world.from_user(erin, "102"))[0])) == ("erin", "erin", "")
    from dataclasses import replace

    call = replace(world.from_user(erin, "102"), caller_name="Erin's desk")
    assert shown(only(world.run(call)[0])) == ("erin", "erin", "Erin's desk")


def test_friend_caller_is_kept_and_e164_numbers_take_the_client_format(world: World) -> None:
    fid = _friend(world, "pbxx", ddiIn="no")
    assert shown(only(world.run(world.from_endpoint("friend", fid, "102", "2001"))[0])) == ("2001", "2001", "")
    t = only(world.run(world.from_endpoint("friend", fid, "102", "+34944000111"))[0])
    assert shown(t) == ("944000111", "944000111", "")  # Spanish callerout of the client


def test_hunt_group_members_and_forwards_keep_the_original_caller(world: World) -> None:
    """Every member leg of a hunt group, and the target of a call forward, see the original
    caller (with the forward in Diversion)."""
    carol, dave, frank = world.user("Carol", "150"), world.user("Dave", "151"), world.user("Frank", "152")
    hg = world.create("HuntGroup", name="hg", description="", strategy="ringAll", ringAllTimeout=20,
                      preventMissedCalls=1, allowCallForwards=0)
    world.create("Extension", number="200", routeType="huntGroup", huntGroup=hg)
    for user in (dave, frank):
        world.create("HuntGroupMember", huntGroup=hg, routeType="user", user=user, timeoutTime=10)
    dial = world.run(world.from_user(carol, "200"))[0]
    assert [(t.ruri_user, *shown(t)) for t in dial.targets] == [  # type: ignore[union-attr]
        ("dave", "150", "150", "Carol Test"), ("frank", "150", "150", "Carol Test")]
    ext = world.rows("Extension", number="152")[0]["id"]
    world.forward("user", dave, "inconditional", "extension", ext)
    t = only(world.run(world.from_user(carol, "151"))[0])
    assert (t.ruri_user, *shown(t)) == ("frank", "150", "150", "Carol Test")
    assert header(t, "Diversion") == [f"<sip:151@{world.domain}>;reason=unconditional"]


def test_external_caller_in_the_client_format_with_the_ddi_display_name(world: World) -> None:
    """Inbound: the caller's number through the callee's callerout rules, the DDI's display name
    (none when the DDI has none: IvozProvider empties CALLERID(name))."""
    dave = world.user("Dave", "151")
    ddi = world.ddi("944000001", routeType="user", user=dave, displayName="Sales line")
    assert shown(only(world.run(world.inbound(ddi, "+34666777888"))[0])) == ("666777888", "666777888", "Sales line")
    plain = world.ddi("944000002", routeType="user", user=dave)
    assert shown(only(world.run(world.inbound(plain, "+34666777888"))[0])) == ("666777888", "666777888", "")


def test_external_calls_keep_the_outgoing_ddi_and_carry_no_pai(world: World) -> None:
    carol = world.user("Carol", "150")
    world.set("Company", world.company, outgoingDdi=world.ddi("944000009"))
    t = only(world.run(world.from_user(carol, "911234567"))[0])
    assert (t.kind, t.ruri_user, t.from_user, t.pai_user) == (TargetKind.EXTERNAL, "+34911234567", "+34944000009",
                                                              None)


def test_blind_transfer_keeps_the_transferee_as_caller(world: World) -> None:
    """A callee that transfers an inbound call (REFER): the new target sees the external caller
    (the transferred channel keeps its caller id in IvozProvider), not the transferor."""
    dave, frank = world.user("Dave", "151"), world.user("Frank", "152")
    ddi = world.ddi("944000001", routeType="user", user=dave, displayName="Sales line")
    call = world.inbound(ddi, "+34666777888")
    answered = only(world.run(call)[0])
    t = only(world.dialplan.transfer(call, world.presence, answered, f"sip:152@{world.domain}").first())
    assert (t.ruri_user, t.user_id, *shown(t)) == ("frank", frank, "666777888", "666777888", "Sales line")
    # an internal caller transferred by its callee: its extension stays
    carol = world.user("Carol", "150")
    call = world.from_user(carol, "151")
    answered = only(world.run(call)[0])
    t = only(world.dialplan.transfer(call, world.presence, answered, "152").first())
    assert (t.ruri_user, *shown(t)) == ("frank", "150", "150", "Carol Test")
