"""Spec 10.1.5 "Queues", "Queue configuration", "Queue strategy"."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.pbx import (
    CompetingQueue,
    QueueConfig,
    QueueMember,
    Target,
    queue_admission,
    queue_for_member,
    queue_member_available,
    queue_wait_status,
    select_queue_members,
)
from polyvox.domain.pbx.queues import QUEUE_STRATEGIES, QueueStrategy

FULL = Target("voicemail", "1", locution="full")
TIMEOUT = Target("number", "+34676676676")
NOW = 1_000.0


def pick(strategy: QueueStrategy, members: list[QueueMember], seed: int = 0, **kw: object) -> tuple[int, ...]:
    queue = QueueConfig(strategy=strategy, member_call_timeout=15)
    decision = select_queue_members(queue, members, now=NOW, rng=random.Random(seed), **kw)  # type: ignore[arg-type]
    return decision.members


def test_10_1_5_queue_rejects_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        QueueConfig(strategy="roundrobin")  # type: ignore[arg-type]


# --- admission / timeout -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maxlen", "waiting", "admitted"),
    [(None, 100, True), (0, 100, True), (3, 2, True), (3, 3, False), (3, 4, False)],
)
def test_10_1_5_queue_full_queue_configuration(maxlen: int | None, waiting: int, admitted: bool) -> None:
    result = queue_admission(QueueConfig(maxlen=maxlen, full_target=FULL), waiting)
    assert result.admitted is admitted
    assert result.target == (None if admitted else FULL)


@pytest.mark.parametrize(
    ("max_wait", "entered", "now", "timed_out", "remaining"),
    [
        (None, 0.0, 10_000.0, False, None),
        (0, 0.0, 10_000.0, False, None),
        (60, 100.0, 130.0, False, 30.0),
        (60, 100.0, 160.0, True, 0.0),
        (60, 100.0, 500.0, True, 0.0),
    ],
)
def test_10_1_5_queue_timeout_configuration(
    max_wait: int | None, entered: float, now: float, timed_out: bool, remaining: float | None
) -> None:
    status = queue_wait_status(QueueConfig(max_wait_time=max_wait, timeout_target=TIMEOUT), entered, now)
    assert status.timed_out is timed_out
    assert status.remaining == remaining
    assert status.target == (TIMEOUT if timed_out else None)


# --- member availability ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "rest", "available"),
    [
        (QueueMember(1), None, True),
        (QueueMember(1, status="busy"), None, False),
        (QueueMember(1, status="ringing"), None, False),
        (QueueMember(1, status="unavailable"), None, False),
        (QueueMember(1, paused=True), None, False),
        (QueueMember(1, last_call_end=NOW - 5), 10, False),  # member rest seconds
        (QueueMember(1, last_call_end=NOW - 10), 10, True),
        (QueueMember(1, last_call_end=NOW - 5), None, True),
        (QueueMember(1), 10, True),
    ],
)
def test_10_1_5_queue_member_rest_seconds_and_state(
    member: QueueMember, rest: int | None, available: bool
) -> None:
    assert queue_member_available(QueueConfig(member_call_rest=rest), member, NOW) is available


# --- strategies --------------------------------------------------------------------------------


def test_10_1_5_queue_strategy_ring_all_rings_current_penalty_members() -> None:
    members = [QueueMember(1, 0), QueueMember(2, 0), QueueMember(3, 1), QueueMember(4, 0, status="busy")]
    assert pick("ringall", members) == (1, 2)


def test_10_1_5_queue_strategy_least_recent() -> None:
    members = [
        QueueMember(1, last_call_end=500.0),
        QueueMember(2, last_call_end=100.0),
        QueueMember(3, last_call_end=300.0),
    ]
    assert pick("leastrecent", members) == (2,)
    assert pick("leastrecent", [*members, QueueMember(4)]) == (4,)  # never called → first
    assert pick("leastrecent", members, tried=frozenset({2})) == (3,)


def test_10_1_5_queue_strategy_fewest_calls() -> None:
    members = [QueueMember(1, calls_taken=5), QueueMember(2, calls_taken=2), QueueMember(3, calls_taken=2)]
    assert pick("fewestcalls", members) == (2,)
    assert pick("fewestcalls", members, tried=frozenset({2})) == (3,)


def test_10_1_5_queue_strategy_linear_follows_creation_order() -> None:
    members = [QueueMember(7), QueueMember(3), QueueMember(5)]
    assert pick("linear", members) == (7,)
    assert pick("linear", members, tried=frozenset({7})) == (3,)
    assert pick("linear", members, tried=frozenset({7, 3, 5})) == (7,)  # new round


@pytest.mark.parametrize("strategy", ["rrmemory", "rrordered"])
@pytest.mark.parametrize(
    ("last", "tried", "expected"),
    [
        (None, set(), 1),
        (1, set(), 2),
        (2, set(), 3),
        (4, set(), 1),
        (2, {3}, 4),
        (2, {3, 4, 1}, 2),
        (99, set(), 1),
    ],
)
def test_10_1_5_queue_strategy_round_robin_memory(
    strategy: QueueStrategy, last: int | None, tried: set[int], expected: int
) -> None:
    members = [QueueMember(i) for i in (1, 2, 3, 4)]
    assert pick(strategy, members, last_member_id=last, tried=frozenset(tried)) == (expected,)


def test_10_1_5_queue_strategy_round_robin_memory_skips_busy() -> None:
    members = [QueueMember(1), QueueMember(2, status="busy"), QueueMember(3)]
    assert pick("rrmemory", members, last_member_id=1) == (3,)


def test_10_1_5_queue_strategy_random_uses_injected_random() -> None:
    members = [QueueMember(i) for i in range(10)]
    assert pick("random", members, seed=3) == pick("random", members, seed=3)


def test_10_1_5_queue_strategy_wrandom_prefers_low_penalty_weight() -> None:
    members = [QueueMember(1, penalty=0), QueueMember(2, penalty=50)]
    wins = [pick("wrandom", members, seed=s)[0] for s in range(200)]
    assert wins.count(1) > wins.count(2) > 0  # penalty is a weight, not a level
    decision = select_queue_members(QueueConfig("wrandom"), members, now=NOW, rng=random.Random(0))
    assert decision.penalty is None
    assert pick("wrandom", members, tried=frozenset({1})) == (2,)


# --- penalties, weights, timeouts ---------------------------------------------------------------


@pytest.mark.parametrize("strategy", [s for s in QUEUE_STRATEGIES if s != "wrandom"])
def test_10_1_5_queue_penalty_used_only_when_lower_penalties_busy(strategy: QueueStrategy) -> None:
    members = [
        QueueMember(1, 1),
        QueueMember(2, 0, status="busy"),
        QueueMember(3, 2),
        QueueMember(4, 0, paused=True),
    ]
    decision = select_queue_members(QueueConfig(strategy), members, now=NOW, rng=random.Random(1))
    assert decision.members == (1,)
    assert decision.penalty == 1
    # the penalty-0 member comes back: level 0 is used again
    members[1] = QueueMember(2, 0)
    assert pick(strategy, members) == (2,)


def test_10_1_5_queue_penalty_level_kept_when_lower_members_only_unanswered() -> None:
    members = [QueueMember(1, 0), QueueMember(2, 1)]
    assert pick("linear", members, tried=frozenset({1})) == (1,)


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([], "empty"),
        ([QueueMember(1, status="busy"), QueueMember(2, status="unavailable")], "no_member_available"),
    ],
)
def test_10_1_5_queue_nobody_to_ring(members: list[QueueMember], reason: str) -> None:
    decision = select_queue_members(QueueConfig(), members, now=NOW, rng=random.Random(0))
    assert decision.members == ()
    assert decision.reason == reason
    assert decision.timeout is None


def test_10_1_5_queue_weight_leaves_shared_members_to_heavier_queue() -> None:
    queue = QueueConfig("ringall", weight=1)
    members = [QueueMember(1), QueueMember(2)]
    heavy = CompetingQueue(queue_id=9, weight=5, waiting_callers=1, member_ids=frozenset({1}))
    idle_heavy = CompetingQueue(queue_id=8, weight=5, waiting_callers=0, member_ids=frozenset({2}))
    light = CompetingQueue(queue_id=7, weight=0, waiting_callers=3, member_ids=frozenset({2}))
    decision = select_queue_members(
        queue, members, now=NOW, rng=random.Random(0), competing=[heavy, idle_heavy, light]
    )
    assert decision.members == (2,)


@pytest.mark.parametrize(
    ("queues", "expected"),
    [
        ([], None),
        ([CompetingQueue(1, 9, 0, frozenset({5}))], None),
        ([CompetingQueue(1, 9, 2, frozenset({6}))], None),
        ([CompetingQueue(1, 1, 2, frozenset({5})), CompetingQueue(2, 3, 1, frozenset({5}))], 2),
        (
            [
                CompetingQueue(1, 3, 2, frozenset({5}), oldest_caller_since=50.0),
                CompetingQueue(2, 3, 1, frozenset({5}), oldest_caller_since=10.0),
            ],
            2,
        ),
        ([CompetingQueue(4, 3, 2, frozenset({5})), CompetingQueue(2, 3, 1, frozenset({5}))], 2),
    ],
)
def test_10_1_5_queue_weight_higher_weight_served_first(
    queues: list[CompetingQueue], expected: int | None
) -> None:
    chosen = queue_for_member(5, queues)
    assert (chosen.queue_id if chosen else None) == expected


@pytest.mark.parametrize(
    ("call_timeout", "remaining", "expected"),
    [(15, None, 15.0), (None, None, None), (15, 4.0, 4.0), (None, 30.0, 30.0), (15, 40.0, 15.0)],
)
def test_10_1_5_queue_member_call_seconds(
    call_timeout: int | None, remaining: float | None, expected: float | None
) -> None:
    decision = select_queue_members(
        QueueConfig(member_call_timeout=call_timeout),
        [QueueMember(1)],
        now=NOW,
        rng=random.Random(0),
        wait_remaining=remaining,
    )
    assert decision.timeout == expected


# --- properties ----------------------------------------------------------------------------------

queue_members = st.lists(
    st.builds(
        lambda penalty, status, calls, last: (penalty, status, calls, last),
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["available", "busy", "ringing", "unavailable"]),
        st.integers(min_value=0, max_value=20),
        st.one_of(st.none(), st.floats(min_value=0, max_value=NOW)),
    ),
    max_size=8,
).map(lambda rows: [QueueMember(i, p, s, False, last, c) for i, (p, s, c, last) in enumerate(rows)])


@given(queue_members, st.sampled_from(QUEUE_STRATEGIES), st.integers(min_value=0, max_value=2**16))
def test_10_1_5_queue_strategy_only_rings_available_lowest_penalty(
    members: list[QueueMember], strategy: QueueStrategy, seed: int
) -> None:
    decision = select_queue_members(QueueConfig(strategy), members, now=NOW, rng=random.Random(seed))
    available = [m for m in members if m.status == "available"]
    if not available:
        assert decision.members == ()
        return
    by_id = {m.member_id: m for m in members}
    assert decision.members
    assert all(by_id[i].status == "available" for i in decision.members)
    if strategy != "wrandom":
        lowest = min(m.penalty for m in available)
        assert all(by_id[i].penalty == lowest for i in decision.members)
        assert decision.penalty == lowest


@given(st.integers(min_value=1, max_value=8), st.sampled_from(["rrmemory", "rrordered", "linear", "random"]))
def test_10_1_5_queue_strategy_visits_every_member_within_one_call(n: int, strategy: QueueStrategy) -> None:
    members = [QueueMember(i) for i in range(n)]
    tried: frozenset[int] = frozenset()
    rng = random.Random(n)
    for _ in range(n):
        decision = select_queue_members(
            QueueConfig(strategy), members, now=NOW, rng=rng, tried=tried, last_member_id=0
        )
        (member,) = decision.members
        assert member not in tried
        tried |= {member}
    assert tried == {m.member_id for m in members}
