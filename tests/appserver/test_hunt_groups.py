"""Hunt groups (spec 10.1.5 "Hunt groups")."""

from __future__ import annotations

import random

from polyvox.appserver.plan import Dial, DialResult, TargetKind
from tests.appserver.conftest import World, header, only, rejected, targets


def _group(world: World, strategy: str, ext: str = "200", **values: object) -> int:
    hg = world.create("HuntGroup", company=world.company, name=f"hg-{strategy}", description="", strategy=strategy,
                      preventMissedCalls=1, allowCallForwards=0, **values)
    world.create("Extension", company=world.company, number=ext, routeType="huntGroup", huntGroup=hg)
    return hg


def _member(world: World, hg: int, *, user: int | None = None, number: str | None = None,
            priority: int | None = None, timeout: int = 10) -> int:
    """A member of ``hg``; without ``priority``, after the members already there (priorities are
    unique within a group)."""
    if priority is None:
        priority = len(world.rows("HuntGroupMember", huntGroupId=hg)) + 1
    if user is not None:
        return world.create("HuntGroupMember", huntGroup=hg, routeType="user", user=user, priority=priority,
                            timeoutTime=timeout)
    return world.create("HuntGroupMember", huntGroup=hg, routeType="number", numberCountry=world.spain,
                        numberValue=number, priority=priority, timeoutTime=timeout)


def test_ring_all_with_timeout_then_no_answer_target(world: World) -> None:
    """ringAll: every member at once for ringAllTimeout, then the no-answer target (a number,
    presenting the caller's outgoing DDI)."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    carol = world.user("Carol", "103")
    hg = _group(world, "ringAll", ringAllTimeout=20, noAnswerTargetType="number", noAnswerNumberCountry=world.spain,
                noAnswerNumberValue="600000009")
    _member(world, hg, user=world.bob)
    _member(world, hg, user=carol)
    _member(world, hg, number="600000001")
    first, second = world.run(world.from_user(world.alice, "200"), DialResult.NO_ANSWER)
    assert first.timeout == 20.0
    assert targets(first) == [("endpoint", "bob"), ("endpoint", "carol"), ("external", "+34600000001")]
    assert [t.label for t in first.targets] == [f"hg:{hg}/member:{m}" for m in
                                                 [r["id"] for r in world.rows("HuntGroupMember", huntGroupId=hg)]]
    assert targets(second) == [("external", "+34600000009")]
    assert only(second).from_user == "+34944000001"


def test_ring_all_without_no_answer_target_hangs_up(world: World) -> None:
    hg = _group(world, "ringAll", ringAllTimeout=5)
    _member(world, hg, user=world.bob)
    rejected(world.run(world.from_user(world.alice, "200"), DialResult.NO_ANSWER)[1], 480, "hunt group")


def test_linear_by_priority_each_with_its_timeout(world: World) -> None:
    """linear: members one after another by priority, each ringing its own timeout; busy members
    are skipped; then the no-answer extension."""
    carol = world.user("Carol", "103")
    ext101 = world.rows("Extension", number="101")[0]["id"]
    hg = _group(world, "linear", noAnswerTargetType="extension", noAnswerExtension=ext101)
    _member(world, hg, user=carol, priority=2, timeout=7)
    _member(world, hg, user=world.bob, priority=1, timeout=5)
    a = world.run(world.from_user(world.alice, "200"), DialResult.NO_ANSWER, DialResult.BUSY)
    assert (targets(a[0]), a[0].timeout) == ([("endpoint", "bob")], 5.0)
    assert (targets(a[1]), a[1].timeout) == ([("endpoint", "carol")], 7.0)
    assert targets(a[2]) == [("endpoint", "alice")]


def test_round_robin_loops_and_remembers_across_calls(world: World) -> None:
    """roundRobin: like linear but the next call starts after the last member rung, and unanswered
    members come back (looping) until someone answers."""
    carol = world.user("Carol", "103")
    hg = _group(world, "roundRobin")
    _member(world, hg, user=world.bob, priority=1)
    _member(world, hg, user=carol, priority=2)
    a = world.run(world.from_user(world.alice, "200"), DialResult.NO_ANSWER, DialResult.NO_ANSWER)
    assert [targets(x) for x in a] == [[("endpoint", "bob")], [("endpoint", "carol")], [("endpoint", "bob")]]
    # the previous call's last rung member was Bob: the next call starts with Carol
    b = world.run(world.from_user(world.alice, "200"), DialResult.ANSWERED)
    assert targets(b[0]) == [("endpoint", "carol")]
    c = world.run(world.from_user(world.alice, "200"))
    assert targets(c[0]) == [("endpoint", "bob")]


def test_random_uses_the_injected_generator(world: World) -> None:
    """random: the order is drawn from the dialplan's injected generator (deterministic here)."""
    users = [world.bob] + [world.user(n, e) for n, e in (("Carol", "103"), ("Dave", "104"), ("Erin", "105"))]
    hg = _group(world, "random")
    for u in users:
        _member(world, hg, user=u)
    expected = ["bob", "carol", "dave", "erin"]
    random.Random(7).shuffle(expected)
    a = world.run(world.from_user(world.alice, "200"), *[DialResult.NO_ANSWER] * 3)
    assert [targets(x)[0][1] for x in a] == expected


def test_members_without_terminal_are_skipped_and_call_forwards_ignored(world: World) -> None:
    """allowCallForwards off: the member's terminal is dialled directly (its forwards ignored);
    users without terminal are not dialled."""
    world.user("Dave", "104", terminal=False)
    dave = world.rows("User", name="Dave")[0]["id"]
    world.forward("user", world.bob, "inconditional", "number", "600000001")
    hg = _group(world, "ringAll", ringAllTimeout=10)
    _member(world, hg, user=world.bob)
    _member(world, hg, user=dave)
    assert targets(world.run(world.from_user(world.alice, "200"))[0]) == [("endpoint", "bob")]


def test_allow_call_forwards_applies_the_member_user_logic(world: World) -> None:
    """allowCallForwards on: a member's unconditional forward replaces it; DND members are skipped."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    carol = world.user("Carol", "103", doNotDisturb=True)
    world.forward("user", world.bob, "inconditional", "number", "600000001")
    hg = _group(world, "ringAll", ringAllTimeout=10)
    world.set("HuntGroup", hg, allowCallForwards=1)
    _member(world, hg, user=world.bob, timeout=30)
    _member(world, hg, user=carol, timeout=30)
    first = world.run(world.from_user(world.alice, "200"))[0]
    assert targets(first) == [("external", "+34600000001")]
    assert first.targets[0].kind is TargetKind.EXTERNAL


def test_inbound_ddi_to_hunt_group_presents_external_caller(world: World) -> None:
    """A DDI routed to a hunt group (spec 10.1.6 DDIs): members see the external caller; an external
    member gets the original caller (kept, with the called DDI in X-Info-Ddi)."""
    hg = _group(world, "ringAll", ringAllTimeout=10)
    _member(world, hg, user=world.bob)
    _member(world, hg, number="600000001")
    ddi = world.ddi("944000001", routeType="huntGroup", huntGroup=hg)
    bob, ext = world.run(world.inbound(ddi, "+34666777888"))[0].targets
    assert bob.from_user == bob.pai_user == "666777888"  # the client's format (callerout)
    assert ext.from_user == "+34666777888" and header(ext, "X-Info-Ddi") == ["+34944000001"]


def test_ring_all_member_timeouts_and_prevent_missed_calls(world: World) -> None:
    """ringAll with per-member timeouts: a member whose timeoutTime is shorter than ringAllTimeout
    rings alone for it (``ring_timeout``), the others until ringAllTimeout; "prevent missed
    calls" puts RFC 3326 "Call completed elsewhere" on the losing branches' CANCEL."""
    carol = world.user("Carol", "103")
    hg = _group(world, "ringAll", ringAllTimeout=20)
    _member(world, hg, user=world.bob, timeout=5)
    _member(world, hg, user=carol, timeout=30)  # longer than the group: the group's timeout rules
    _member(world, hg, number="600000001", timeout=8)
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    first = world.run(world.from_user(world.alice, "200"))[0]
    assert isinstance(first, Dial) and first.timeout == 20.0
    assert [t.ring_timeout for t in first.targets] == [5.0, None, 8.0]
    assert first.cancel_reason == 'SIP;cause=200;text="Call completed elsewhere"'
    world.set("HuntGroup", hg, preventMissedCalls=0)
    assert world.run(world.from_user(world.alice, "200"))[0].cancel_reason is None  # type: ignore[union-attr]


def test_linear_members_have_no_branch_timeout_but_prevent_missed_calls_applies(world: World) -> None:
    hg = _group(world, "linear")
    _member(world, hg, user=world.bob, timeout=5)
    first = world.run(world.from_user(world.alice, "200"))[0]
    assert isinstance(first, Dial) and first.timeout == 5.0 and only(first).ring_timeout is None
    assert first.cancel_reason is not None and "cause=200" in first.cancel_reason


def test_allow_call_forwards_member_no_answer_and_busy_forwards(world: World) -> None:
    """allowCallForwards on: a member's no-answer forward (noAnswerTimeout shorter than the group)
    rings in its place after that timeout, its busy forward when it answers busy; with the option
    off they are ignored."""
    world.set("Company", world.company, outgoingDdi=world.ddi("944000001"))
    carol = world.user("Carol", "103")
    dave = world.user("Dave", "104")
    ext104 = world.rows("Extension", number="104")[0]["id"]
    world.forward("user", world.bob, "noAnswer", "number", "600000001", timeout=4)
    world.forward("user", carol, "busy", "extension", ext104)
    hg = _group(world, "ringAll", ringAllTimeout=20)
    world.set("HuntGroup", hg, allowCallForwards=1)
    _member(world, hg, user=world.bob, timeout=30)
    _member(world, hg, user=carol, timeout=30)
    first = world.run(world.from_user(world.alice, "200"))[0]
    assert isinstance(first, Dial)
    bob, carol_t = first.targets
    assert (bob.ruri_user, bob.ring_timeout) == ("bob", 4.0)
    assert bob.forward_no_answer is not None and bob.forward_no_answer.ruri_user == "+34600000001"
    assert bob.forward_no_answer.kind is TargetKind.EXTERNAL and bob.forward_busy is None
    assert (carol_t.ruri_user, carol_t.ring_timeout, carol_t.forward_no_answer) == ("carol", None, None)
    assert carol_t.forward_busy is not None and carol_t.forward_busy.ruri_user == "dave"
    assert carol_t.forward_busy.user_id == dave
    # a forward whose timeout is longer than the group's never applies (the group gives up first)
    world.set("HuntGroup", hg, ringAllTimeout=3)
    bob = world.run(world.from_user(world.alice, "200"))[0].targets[0]  # type: ignore[union-attr]
    assert (bob.ring_timeout, bob.forward_no_answer) == (None, None)
    world.set("HuntGroup", hg, allowCallForwards=0, ringAllTimeout=20)
    for t in world.run(world.from_user(world.alice, "200"))[0].targets:  # type: ignore[union-attr]
        assert (t.forward_no_answer, t.forward_busy) == (None, None)
