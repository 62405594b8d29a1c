"""Spec 10.1.5 "Hunt groups" / "Adding members to hunt group"."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.pbx import (
    HuntGroup,
    HuntGroupMember,
    HuntGroupPlan,
    RingStep,
    Target,
    generates_missed_call,
    hunt_group_after_dial,
    hunt_group_members_in_order,
    hunt_group_start,
    plan_hunt_group,
    round_robin_next_start,
)
from polyvox.domain.pbx.common import DialOutcome

VOICEMAIL = Target("voicemail", "7", locution="sorry")


def user(
    member_id: int, priority: int | None = None, timeout: int | None = 10, *, has_terminal: bool = True
) -> HuntGroupMember:
    return HuntGroupMember(
        member_id, user_id=100 + member_id, priority=priority, timeout=timeout, has_terminal=has_terminal
    )


def ids(plan: HuntGroupPlan) -> list[list[int]]:
    return [[m.member_id for m in step.members] for step in plan.steps]


def flat(plan: HuntGroupPlan) -> list[int]:
    return [m.member_id for step in plan.steps for m in step.members]


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: HuntGroupMember(1),
        lambda: HuntGroupMember(1, user_id=1, number="+34600"),
        lambda: HuntGroupMember(1, user_id=1, timeout=0),
        lambda: HuntGroup("bogus"),  # type: ignore[arg-type]
        lambda: HuntGroup("ringAll", (user(1),)),
        lambda: HuntGroup("ringAll", (user(1),), ring_all_timeout=0),
        lambda: HuntGroup("linear", (user(1, timeout=None),)),
    ],
)
def test_10_1_5_hunt_group_rejects_invalid_configuration(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_10_1_5_hunt_group_random_needs_injected_random() -> None:
    with pytest.raises(ValueError):
        plan_hunt_group(HuntGroup("random", (user(1),)))


# --- strategies ----------------------------------------------------------------------------------


def test_10_1_5_hunt_group_ring_all_rings_everyone_with_ring_all_timeout() -> None:
    external = HuntGroupMember(3, number="+34676676676")
    group = HuntGroup(
        "ringAll", (user(1), user(2), external), ring_all_timeout=25, no_answer_target=VOICEMAIL
    )
    plan = plan_hunt_group(group)
    assert plan.steps == (RingStep((user(1), user(2), external), 25),)
    assert plan.no_answer == VOICEMAIL
    assert not plan.loops


@pytest.mark.parametrize(
    ("priorities", "expected"),
    [
        ([3, 1, 2], [[2], [3], [1]]),
        ([1, 1, 0], [[3], [1], [2]]),  # equal priorities keep configuration order
        ([None, 5, 1], [[3], [2], [1]]),  # missing priority goes last
        ([], []),
    ],
)
def test_10_1_5_hunt_group_linear_priority_order(
    priorities: list[int | None], expected: list[list[int]]
) -> None:
    members = tuple(user(i + 1, p) for i, p in enumerate(priorities))
    plan = plan_hunt_group(HuntGroup("linear", members))
    assert ids(plan) == expected
    assert not plan.loops


def test_10_1_5_hunt_group_linear_uses_each_member_timeout() -> None:
    group = HuntGroup("linear", (user(1, 1, timeout=5), user(2, 2, timeout=15)))
    assert [s.timeout for s in plan_hunt_group(group).steps] == [5, 15]


@pytest.mark.parametrize(
    ("last", "expected_first"),
    [(None, 1), (1, 2), (2, 3), (3, 1), (99, 1)],
)
def test_10_1_5_hunt_group_round_robin_starts_after_last_member(
    last: int | None, expected_first: int
) -> None:
    members = (user(1, 1), user(2, 2), user(3, 3))
    start = round_robin_next_start(members, last)
    assert start is not None and start.member_id == expected_first
    plan = plan_hunt_group(HuntGroup("roundRobin", members), last_member_id=last)
    assert ids(plan)[0] == [expected_first]
    assert sorted(flat(plan)) == [1, 2, 3]
    assert plan.loops


def test_10_1_5_hunt_group_round_robin_empty_group() -> None:
    assert round_robin_next_start((), 3) is None
    plan = plan_hunt_group(HuntGroup("roundRobin", (), no_answer_target=VOICEMAIL))
    assert plan.steps == ()
    assert hunt_group_start(plan).kind == "no_answer"
    assert hunt_group_start(plan).target == VOICEMAIL


def test_10_1_5_hunt_group_random_uses_injected_random() -> None:
    members = tuple(user(i, i) for i in range(1, 8))
    group = HuntGroup("random", members)
    a = plan_hunt_group(group, rng=random.Random(42))
    b = plan_hunt_group(group, rng=random.Random(42))
    assert a == b
    assert sorted(flat(a)) == list(range(1, 8))


def test_10_1_5_hunt_group_skips_users_without_terminal_unless_forwards_allowed() -> None:
    members = (
        user(1, 1, has_terminal=False),
        user(2, 2),
        HuntGroupMember(3, number="+34600", priority=3, timeout=5),
    )
    plan = plan_hunt_group(HuntGroup("linear", members))
    assert ids(plan) == [[2], [3]]
    assert not plan.apply_user_logic
    plan = plan_hunt_group(HuntGroup("linear", members, allow_call_forwards=True))
    assert ids(plan) == [[1], [2], [3]]
    assert plan.apply_user_logic


def test_10_1_5_hunt_group_prevent_missed_calls_sets_answered_elsewhere() -> None:
    group = HuntGroup("ringAll", (user(1),), ring_all_timeout=10, prevent_missed_calls=True)
    assert plan_hunt_group(group).cancel_as_answered_elsewhere
    group = HuntGroup("ringAll", (user(1),), ring_all_timeout=10, prevent_missed_calls=False)
    assert not plan_hunt_group(group).cancel_as_answered_elsewhere


@pytest.mark.parametrize(
    ("ring_all", "prevent", "member_answered", "anyone_answered", "missed"),
    [
        (True, True, False, False, False),
        (False, True, False, True, False),
        (True, False, False, True, False),
        (True, False, False, False, True),
        (False, False, False, True, True),
        (False, False, False, False, True),
        (False, False, True, True, False),
    ],
)
def test_10_1_5_hunt_group_prevent_missed_calls_tip(
    ring_all: bool, prevent: bool, member_answered: bool, anyone_answered: bool, missed: bool
) -> None:
    assert (
        generates_missed_call(
            ring_all=ring_all,
            prevent_missed_calls=prevent,
            member_answered=member_answered,
            anyone_answered=anyone_answered,
        )
        is missed
    )


# --- execution -----------------------------------------------------------------------------------


def run(plan: HuntGroupPlan, outcomes: list[DialOutcome]) -> tuple[list[int], str, Target | None]:
    """Drive a plan with dial outcomes; return rung member ids, final kind, final target."""
    rung: list[int] = []
    nxt = hunt_group_start(plan)
    for outcome in outcomes:
        if nxt.kind != "ring":
            break
        assert nxt.step is not None
        rung.extend(m.member_id for m in nxt.step.members)
        nxt = hunt_group_after_dial(plan, nxt.pending, outcome)
    return rung, nxt.kind, nxt.target


@pytest.mark.parametrize(
    ("strategy", "outcomes", "rung", "kind"),
    [
        ("linear", ["noanswer", "noanswer", "noanswer"], [1, 2, 3], "no_answer"),
        ("linear", ["noanswer", "answer"], [1, 2], "answered"),
        ("linear", ["busy", "unavailable", "rejected"], [1, 2, 3], "no_answer"),
        ("linear", ["noanswer", "cancel"], [1, 2], "hangup"),
        ("roundRobin", ["noanswer"] * 7, [1, 2, 3, 1, 2, 3, 1], "ring"),
        ("roundRobin", ["noanswer", "noanswer", "noanswer", "answer"], [1, 2, 3, 1], "answered"),
        ("roundRobin", ["busy", "noanswer", "busy", "noanswer", "noanswer"], [1, 2, 3, 2, 2], "ring"),
        ("roundRobin", ["busy", "busy", "unavailable"], [1, 2, 3], "no_answer"),
    ],
)
def test_10_1_5_hunt_group_execution(
    strategy: str, outcomes: list[DialOutcome], rung: list[int], kind: str
) -> None:
    members = (user(1, 1), user(2, 2), user(3, 3))
    plan = plan_hunt_group(HuntGroup(strategy, members, no_answer_target=VOICEMAIL))  # type: ignore[arg-type]
    got_rung, got_kind, target = run(plan, outcomes)
    assert got_rung == rung
    assert got_kind == kind
    assert target == (VOICEMAIL if kind == "no_answer" else None)


def test_10_1_5_hunt_group_ring_all_no_answer_goes_to_no_answer_target() -> None:
    plan = plan_hunt_group(
        HuntGroup("ringAll", (user(1), user(2)), ring_all_timeout=20, no_answer_target=VOICEMAIL)
    )
    nxt = hunt_group_after_dial(plan, plan.steps, "noanswer")
    assert nxt.kind == "no_answer"
    assert nxt.target == VOICEMAIL
    assert [m.member_id for m in nxt.last_rung] == [1, 2]
    assert nxt.step is None


def test_10_1_5_hunt_group_after_dial_with_nothing_pending() -> None:
    plan = plan_hunt_group(HuntGroup("linear", ()))
    assert hunt_group_after_dial(plan, (), "noanswer").kind == "no_answer"
    assert hunt_group_after_dial(plan, (), "noanswer").target is None


def test_10_1_5_hunt_group_members_in_order_is_stable() -> None:
    members = [user(1, 2), user(2, None), user(3, 2), user(4, 1)]
    assert [m.member_id for m in hunt_group_members_in_order(members)] == [4, 1, 3, 2]


# --- properties ----------------------------------------------------------------------------------

member_lists = st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=10).map(
    lambda prios: tuple(user(i + 1, p) for i, p in enumerate(prios))
)


@given(member_lists, st.integers(min_value=0, max_value=2**32))
def test_10_1_5_hunt_group_random_is_a_permutation(members: tuple[HuntGroupMember, ...], seed: int) -> None:
    plan = plan_hunt_group(HuntGroup("random", members), rng=random.Random(seed))
    assert sorted(flat(plan)) == [m.member_id for m in members]
    assert all(len(step.members) == 1 for step in plan.steps)


@given(member_lists, st.one_of(st.none(), st.integers(min_value=0, max_value=12)))
def test_10_1_5_hunt_group_round_robin_visits_every_member(
    members: tuple[HuntGroupMember, ...], last: int | None
) -> None:
    plan = plan_hunt_group(HuntGroup("roundRobin", members), last_member_id=last)
    rung, kind, _ = run(plan, ["noanswer"] * (2 * len(members)))
    n = len(members)
    assert sorted(rung[:n]) == sorted(m.member_id for m in members)
    assert rung[n:] == rung[:n]  # keeps looping in the same order
    assert kind == ("ring" if n else "no_answer")


@given(member_lists, st.integers(min_value=0, max_value=12))
def test_10_1_5_hunt_group_round_robin_rotation_follows_priority_order(
    members: tuple[HuntGroupMember, ...], last: int
) -> None:
    ordered = [m.member_id for m in hunt_group_members_in_order(members)]
    plan = plan_hunt_group(HuntGroup("roundRobin", members), last_member_id=last)
    got = flat(plan)
    if ordered:
        pivot = ordered.index(got[0])
        assert got == ordered[pivot:] + ordered[:pivot]
        if last in ordered:
            assert got[0] == ordered[(ordered.index(last) + 1) % len(ordered)]
