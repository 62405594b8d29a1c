"""Hunt groups (rules.hunt_groups): what the application server needs to ring a group is
demanded at write time (spec 10.1.5, IvozProvider HuntGroup/HuntGroupMember::sanitizeValues)."""

from __future__ import annotations

import pytest

from tests.api.write_path.conftest import W

BASE = {"description": "", "preventMissedCalls": 1, "allowCallForwards": 0}


def test_ring_all_needs_its_timeout(w: W) -> None:
    """Found by a new user: a ringAll group without ringAllTimeout made every call fail with 500."""
    w.refused("/hunt_groups", "ringAllTimeout", name=f"hg{w.n()}", strategy="ringAll", **BASE)
    w.refused("/hunt_groups", "ringAllTimeout", name=f"hg{w.n()}", strategy="ringAll", ringAllTimeout=0, **BASE)
    hg = w.hunt_group()
    w.refused("/hunt_groups", "ringAllTimeout", ident=hg["id"], ringAllTimeout=None)


def test_number_member_is_accepted(w: W) -> None:
    """Found by a new user: a member routed to a number was refused with "user: should not be blank"."""
    hg = w.hunt_group()
    m = w.create("/hunt_group_members", huntGroup=hg["id"], routeType="number", numberValue="600111222",
                 numberCountry=w.country())
    assert m["user"] is None and m["numberValue"] == "600111222"
    assert m["id"] in [x["id"] for x in w.api.get("client", "/hunt_group_members", w.tok("client")).json()]


def test_number_member_needs_number_and_country(w: W) -> None:
    hg = w.hunt_group()
    w.refused("/hunt_group_members", "numberValue", huntGroup=hg["id"], routeType="number")
    w.refused("/hunt_group_members", "numberCountry", huntGroup=hg["id"], routeType="number", numberValue="600111222")


def test_user_member_needs_its_user_and_drops_the_number(w: W) -> None:
    hg = w.hunt_group()
    w.refused("/hunt_group_members", "user", huntGroup=hg["id"], routeType="user")
    m = w.create("/hunt_group_members", huntGroup=hg["id"], routeType="user", user=2, numberValue="600111222")
    assert m["numberValue"] is None


@pytest.mark.parametrize("strategy", ["linear", "roundRobin", "random"])
def test_members_one_by_one_need_their_ring_time(w: W, strategy: str) -> None:
    hg = w.hunt_group(strategy=strategy, ringAllTimeout=None)
    w.refused("/hunt_group_members", "timeoutTime", huntGroup=hg["id"], routeType="user", user=2, priority=1)


@pytest.mark.parametrize("strategy", ["linear", "roundRobin"])
def test_ordered_members_need_a_priority(w: W, strategy: str) -> None:
    hg = w.hunt_group(strategy=strategy, ringAllTimeout=None)
    w.refused("/hunt_group_members", "priority", huntGroup=hg["id"], routeType="user", user=2, timeoutTime=10)


def test_ring_time_is_positive(w: W) -> None:
    hg = w.hunt_group()
    w.refused("/hunt_group_members", "timeoutTime", huntGroup=hg["id"], routeType="user", user=2, timeoutTime=-5)


def test_strategy_change_needs_member_ring_times(w: W) -> None:
    hg = w.hunt_group()
    w.create("/hunt_group_members", huntGroup=hg["id"], routeType="user", user=2)
    w.refused("/hunt_groups", "strategy", ident=hg["id"], strategy="linear")


def test_a_user_is_a_member_once(w: W) -> None:
    hg = w.hunt_group()
    w.create("/hunt_group_members", huntGroup=hg["id"], routeType="user", user=2)
    w.refused("/hunt_group_members", "user", huntGroup=hg["id"], routeType="user", user=2)
