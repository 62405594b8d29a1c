"""Calls to users (spec 10.1.1 "Basic Configuration", "Boss-Assistant", "User Call Forward")."""

from __future__ import annotations

import datetime as dt

from polyvox.appserver.plan import DialOutcome, DialResult, TargetKind
from tests.appserver.conftest import NOW, World, header, only, rejected


def test_10_1_1_do_not_disturb_is_busy(world: World) -> None:
    """10.1.1: DND → busy (no busy forward)."""
    world.set("User", world.bob, doNotDisturb=True)
    rejected(world.run(world.from_user(world.alice, "102"))[0], 486, "do not disturb")


def test_10_1_1_call_waiting_limit(world: World) -> None:
    """10.1.1 "Call waiting": a user with maxCalls=1 in a call is busy; free again afterwards."""
    world.set("User", world.bob, maxCalls=1)
    world.presence.active[world.bob] = 1
    rejected(world.run(world.from_user(world.alice, "102"))[0], 486, "call waiting")
    world.presence.active[world.bob] = 0
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "bob"


def test_10_1_1_unconditional_forward_to_extension_with_diversion(world: World) -> None:
    """User Call Forward, unconditional to an extension: the extension's user rings with a Diversion
    naming the forwarding user's extension."""
    carol = world.user("Carol", "103")
    ext = world.rows("Extension", number="103")[0]["id"]
    world.forward("user", world.bob, "inconditional", "extension", ext)
    t = only(world.run(world.from_user(world.alice, "102"))[0])
    assert (t.ruri_user, t.user_id, t.from_user) == ("carol", carol, "101")
    assert header(t, "Diversion") == [f"<sip:102@{world.domain}>;reason=unconditional"]


def test_10_1_1_forward_filters_by_call_type(world: World) -> None:
    """Call Type: an "external" forward does not apply to internal calls."""
    world.forward("user", world.bob, "inconditional", "number", "600000001", call_type="external")
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "bob"


def test_10_1_1_no_answer_forward_after_n_seconds_to_a_number(world: World) -> None:
    """No answer forward after N seconds to an external number: the dial lasts N seconds, then the
    number is called through proxy-trunks presenting the caller's DDI, with a Diversion carrying
    Bob's outgoing DDI (reason no-answer)."""
    client_ddi = world.ddi("944000001")
    bob_ddi = world.ddi("944000002")
    world.set("Company", world.company, outgoingDdi=client_ddi)
    world.set("User", world.bob, outgoingDdi=bob_ddi)
    world.forward("user", world.bob, "noAnswer", "number", "600000001", timeout=15)
    first, second = world.run(world.from_user(world.alice, "102"), DialResult.NO_ANSWER)
    assert first.timeout == 15.0 and only(first).ruri_user == "bob"
    t = only(second)
    assert (t.kind, t.ruri_user, t.from_user) == (TargetKind.EXTERNAL, "+34600000001", "+34944000001")
    assert header(t, "Diversion") == [f"<sip:+34944000002@{world.domain}>;reason=no-answer"]
    assert header(t, "X-Info-Caller") == ["+34944000001"]


def test_10_1_1_busy_forward_and_rejection(world: World) -> None:
    """Busy forward: applies when the user is busy (486) or rejects the call."""
    ext = world.rows("Extension", number="101")[0]["id"]
    carol = world.user("Carol", "103")
    world.forward("user", carol, "busy", "extension", ext)
    for result in (DialResult.BUSY, DialResult.REJECTED):
        actions = world.run(world.from_user(world.bob, "103"), DialOutcome(result, 486))
        assert only(actions[1]).ruri_user == "alice"
        assert header(only(actions[1]), "Diversion") == [f"<sip:103@{world.domain}>;reason=user-busy"]


def test_10_1_1_busy_without_forward_and_603(world: World) -> None:
    """Without forwards, a busy user is 486 and a decline everywhere (603) is relayed."""
    rejected(world.run(world.from_user(world.alice, "102"), DialOutcome(DialResult.BUSY, 486))[1], 486)
    rejected(world.run(world.from_user(world.alice, "102"), DialOutcome(DialResult.REJECTED, 603))[1], 603)
    rejected(world.run(world.from_user(world.alice, "102"), DialResult.UNAVAILABLE)[1], 480, "not registered")


def test_10_1_1_not_registered_forward_uses_registrations(world: World) -> None:
    """Not registered forward: applied before ringing when the terminal has no live registration
    (kam_users_location); a registered terminal rings; an expired registration does not count."""
    ext = world.rows("Extension", number="101")[0]["id"]
    world.forward("user", world.bob, "userNotRegistered", "extension", ext)
    t = only(world.run(world.from_user(world.alice, "102", caller="alice"))[0])
    assert t.ruri_user == "alice"
    assert header(t, "Diversion") == [f"<sip:102@{world.domain}>;reason=unavailable"]
    world.register("bob", expires=NOW - dt.timedelta(seconds=1))
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "alice"
    world.register("bob")
    first, second = world.run(world.from_user(world.alice, "102"), DialResult.UNAVAILABLE)
    assert only(first).ruri_user == "bob"
    assert only(second).ruri_user == "alice"  # the proxy found no contact after all: same forward


def test_10_1_1_user_without_terminal_is_unavailable(world: World) -> None:
    world.user("Dave", "104", terminal=False)
    rejected(world.run(world.from_user(world.alice, "104"))[0], 480, "no terminal")


def test_10_1_1_boss_assistant_with_whitelist(world: World) -> None:
    """Boss-Assistant: calls to the boss go to the assistant, except the assistant's own calls and
    whitelisted origins."""
    carol = world.user("Carol", "103")
    wl = world.match_list("+34666777888")
    world.set("User", world.bob, isBoss=True, bossAssistant=carol, bossAssistantWhiteList=wl)
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "carol"
    assert only(world.run(world.from_user(carol, "102"))[0]).ruri_user == "bob"
    ddi = world.ddi("944000001", routeType="user", user=world.bob)
    assert only(world.run(world.inbound(ddi, "+34666777888"))[0]).ruri_user == "bob"
    assert only(world.run(world.inbound(ddi, "+34666000000"))[0]).ruri_user == "carol"


def test_forward_loops_end_with_482(world: World) -> None:
    """Two users forwarding to each other unconditionally: the loop is cut (decision: 482)."""
    e101 = world.rows("Extension", number="101")[0]["id"]
    e102 = world.rows("Extension", number="102")[0]["id"]
    world.forward("user", world.alice, "inconditional", "extension", e102)
    world.forward("user", world.bob, "inconditional", "extension", e101)
    carol = world.user("Carol", "103")
    rejected(world.run(world.from_user(carol, "101"))[0], 482)


def test_forward_to_voicemail_is_a_placeholder(world: World) -> None:
    """Voicemail targets wait for the media engine: 503 naming the feature."""
    vm = world.rows("Voicemail", userId=world.bob)[0]["id"]
    world.forward("user", world.bob, "inconditional", "voicemail", vm)
    rejected(world.run(world.from_user(world.alice, "102"))[0], 503, "voicemail not available yet")


def test_configuration_change_applies_to_the_next_call(world: World) -> None:
    """ARCHITECTURE §3: the per-process cache is dropped when config_version changes."""
    assert only(world.run(world.from_user(world.alice, "102"))[0]).ruri_user == "bob"
    world.set("User", world.bob, doNotDisturb=True)
    rejected(world.run(world.from_user(world.alice, "102"))[0], 486)
    reads = world.dialplan.repo.stats["queries"]
    world.run(world.from_user(world.alice, "102"))
    assert world.dialplan.repo.stats["queries"] == reads  # unchanged version: served from the cache


def test_screen_extension_and_external_caller_presentation(world: World) -> None:
    """Internal calls show the caller's extension (whatever the From user); the From display name
    is the user's name."""
    t = only(world.run(world.from_user(world.alice, "102", caller="alice"))[0])
    assert (t.from_user, t.from_name) == ("101", "Alice Demo")
