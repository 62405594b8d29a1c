"""Call registry (spec 10.1.14): the app server's users_cdrs rows, one per involved user or friend,
written when the call ends; listed by the API at client and user level."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from polyvox.appserver.plan import CallEnded, Dial, Disposition, IncomingCall, Target
from tests.api.conftest import Api, api, app_factory, tokens  # noqa: F401
from tests.appserver.conftest import NOW, World
from tests.appserver.test_friends import _friend

T = dt.timedelta(seconds=1)


def _end(world: World, call: IncomingCall, disposition: Disposition, *, answer: int | None = None,
         talk: float = 0.0, code: int | None = None) -> list[dict[str, Any]]:
    """Runs ``call``: its first dial is answered by target ``answer`` (index) or ends unanswered;
    then the runtime tells the script the call ended. Returns the call's users_cdrs rows."""
    script = world.dialplan.script(call, world.presence)
    first = script.first()
    tried: tuple[Target, ...] = first.targets if isinstance(first, Dial) else ()
    answered_by = answered_at = None
    if answer is not None:
        answered_by = tried[answer]
        answered_at = NOW + 5 * T
        script.answered(answered_by)
    end = (answered_at or NOW + 10 * T) + dt.timedelta(seconds=talk)
    script.ended(CallEnded(disposition, NOW, end, answered_at, answered_by, code, tried))
    rows = [r for r in world.rows("UsersCdr") if r["callid"] == call.call_id]
    return sorted(rows, key=lambda r: (r["direction"] != "outbound", r["id"]))


def _brief(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["direction"], r["userId"], r["friendId"], r["caller"], r["callee"], r["owner"], r["disposition"],
             Decimal(str(r["duration"])).quantize(Decimal("0.01"))) for r in rows]


def test_internal_call_answered_one_row_per_user(world: World) -> None:
    """Alice (101) calls Bob (102), 42.5 s of talk: an outbound row for Alice, an inbound one for Bob."""
    call = world.from_user(world.alice, "102")
    rows = _end(world, call, Disposition.ANSWERED, answer=0, talk=42.5)
    assert _brief(rows) == [
        ("outbound", world.alice, None, "101", "102", "101", "answered", Decimal("42.50")),
        ("inbound", world.bob, None, "101", "102", "102", "answered", Decimal("42.50")),
    ]
    assert {r["companyId"] for r in rows} == {world.company} and {r["brandId"] for r in rows} == {world.brand}
    assert rows[0]["startTime"] == NOW.replace(tzinfo=None)
    ext101 = world.rows("Extension", number="101")[0]["id"]
    assert rows[0]["extensionId"] == ext101


def test_unanswered_busy_and_failed_calls_are_registered(world: World) -> None:
    """Calls without answer (and without cost) are registered too: missed, busy, error."""
    rows = _end(world, world.from_user(world.alice, "102"), Disposition.NO_ANSWER, code=480)
    assert [(r["direction"], r["userId"], r["disposition"], r["duration"]) for r in rows] == [
        ("outbound", world.alice, "missed", 0), ("inbound", world.bob, "missed", 0)]
    rows = _end(world, world.from_user(world.alice, "102"), Disposition.BUSY, code=486)
    assert [r["disposition"] for r in rows] == ["busy", "busy"]
    rows = _end(world, world.from_user(world.alice, "102"), Disposition.CANCELLED)
    assert [r["disposition"] for r in rows] == ["missed", "missed"]
    rows = _end(world, world.from_user(world.alice, "999"), Disposition.FAILED, code=403)  # refused: no DDI
    assert _brief(rows) == [("outbound", world.alice, None, "101", "999", "101", "error", Decimal("0.00"))]


def test_inbound_ddi_call_and_external_call(world: World) -> None:
    """A DDI call answered by Alice: one inbound row (the external caller, the DDI); Alice's
    external call: one outbound row (nobody else of the client is involved)."""
    ddi = world.ddi("944000001", routeType="user", user=world.alice)
    rows = _end(world, world.inbound(ddi, "+34666777888"), Disposition.ANSWERED, answer=0, talk=10)
    assert _brief(rows) == [("inbound", world.alice, None, "+34666777888", "+34944000001", "101", "answered",
                             Decimal("10.00"))]
    world.set("Company", world.company, outgoingDdi=ddi)
    rows = _end(world, world.from_user(world.alice, "911234567"), Disposition.ANSWERED, answer=0, talk=3)
    assert _brief(rows) == [("outbound", world.alice, None, "101", "911234567", "101", "answered",
                             Decimal("3.00"))]


def test_hunt_group_rows_the_member_who_answered_and_missed_calls(world: World) -> None:
    """Hunt group calls: the member who answered; unanswered: every member rung, unless the group
    prevents missed calls (spec 10.1.5)."""
    carol = world.user("Carol", "103")
    hg = world.create("HuntGroup", company=world.company, name="hg", description="", strategy="ringAll",
                      ringAllTimeout=10, preventMissedCalls=1, allowCallForwards=0)
    world.create("Extension", company=world.company, number="200", routeType="huntGroup", huntGroup=hg)
    for priority, u in enumerate((world.bob, carol), 1):
        world.create("HuntGroupMember", huntGroup=hg, routeType="user", user=u, priority=priority)
    rows = _end(world, world.from_user(world.alice, "200"), Disposition.ANSWERED, answer=1, talk=7)
    assert [(r["direction"], r["userId"], r["callee"], r["owner"]) for r in rows] == [
        ("outbound", world.alice, "200", "101"), ("inbound", carol, "200", "103")]
    rows = _end(world, world.from_user(world.alice, "200"), Disposition.NO_ANSWER)
    assert [(r["direction"], r["userId"]) for r in rows] == [("outbound", world.alice)]
    world.set("HuntGroup", hg, preventMissedCalls=0)
    rows = _end(world, world.from_user(world.alice, "200"), Disposition.NO_ANSWER)
    assert [(r["direction"], r["userId"], r["disposition"]) for r in rows] == [
        ("outbound", world.alice, "missed"), ("inbound", world.bob, "missed"), ("inbound", carol, "missed")]


def test_friend_caller_row(world: World) -> None:
    friend = _friend(world, "pbx2")
    call = world.from_endpoint("friend", friend, "102", "2001")
    rows = _end(world, call, Disposition.ANSWERED, answer=0, talk=1)
    assert [(r["direction"], r["friendId"], r["userId"], r["owner"], r["caller"]) for r in rows] == [
        ("outbound", friend, None, "pbx2", "2001"), ("inbound", None, world.bob, "102", "2001")]


def test_users_cdrs_api_client_and_user_level(world: World, api: Api, tokens: dict[str, str]) -> None:  # noqa: F811
    """GET /users_cdrs: the client sees every row of its calls; the user (alice) only hers, also
    through /my/call_history and /my/call_stats."""
    _end(world, world.from_user(world.alice, "102"), Disposition.ANSWERED, answer=0, talk=20)
    _end(world, world.from_user(world.bob, "101"), Disposition.NO_ANSWER)
    carol = world.user("Carol", "103")
    _end(world, world.from_user(carol, "102"), Disposition.BUSY)
    r = api.get("client", "/users_cdrs", tokens["client"])
    assert r.status_code == 200, r.text
    assert sorted((x["direction"], x["owner"]) for x in r.json()) == [
        ("inbound", "101"), ("inbound", "102"), ("inbound", "102"), ("outbound", "101"), ("outbound", "102"),
        ("outbound", "103")]
    r = api.get("user", "/users_cdrs", tokens["user"])
    assert r.status_code == 200, r.text
    mine = r.json()
    assert sorted((x["direction"], x["disposition"]) for x in mine) == [("inbound", "missed"),
                                                                         ("outbound", "answered")]
    r = api.get("user", "/my/call_history", tokens["user"])
    assert r.status_code == 200, r.text
    assert sorted(x["direction"] for x in r.json()) == ["inbound", "outbound"]
    r = api.get("user", "/my/call_stats", tokens["user"])
    assert r.status_code == 200 and r.json()["totalCalls"] == 2, r.text
