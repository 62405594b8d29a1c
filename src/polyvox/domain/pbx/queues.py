"""Queues (spec 10.1.5 "Queues", "Queue strategy"): admission, timeout and member selection."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from polyvox.domain.pbx.common import Target

__all__ = [
    "CompetingQueue",
    "MemberStatus",
    "QueueAdmission",
    "QueueConfig",
    "QueueMember",
    "QueueRingDecision",
    "QueueStrategy",
    "QueueWaitStatus",
    "queue_admission",
    "queue_for_member",
    "queue_member_available",
    "queue_wait_status",
    "select_queue_members",
]

QueueStrategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom", "rrordered"
]
QUEUE_STRATEGIES: tuple[QueueStrategy, ...] = (
    "ringall",
    "leastrecent",
    "fewestcalls",
    "random",
    "rrmemory",
    "linear",
    "wrandom",
    "rrordered",
)

MemberStatus = Literal["available", "busy", "ringing", "unavailable"]
"""``ringing`` = ringing for another caller; like ``busy`` it makes the member ineligible."""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Queue settings. ``max_wait_time``/``maxlen``/``member_call_rest``/``member_call_timeout``:
    ``None`` or 0 means "not limited"/"not set"."""

    strategy: QueueStrategy = "ringall"
    weight: int = 0
    max_wait_time: int | None = None
    timeout_target: Target | None = None
    maxlen: int | None = None
    full_target: Target | None = None
    member_call_rest: int | None = None
    member_call_timeout: int | None = None
    prevent_missed_calls: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in QUEUE_STRATEGIES:
            raise ValueError(f"unknown queue strategy {self.strategy!r}")


@dataclass(frozen=True, slots=True)
class QueueMember:
    """A queue member with its live state. Give members in creation order (``linear`` and the
    round-robin strategies use that order). ``last_call_end``: seconds (same clock as ``now``)."""

    member_id: int
    penalty: int = 0
    status: MemberStatus = "available"
    paused: bool = False
    last_call_end: float | None = None
    calls_taken: int = 0


@dataclass(frozen=True, slots=True)
class CompetingQueue:
    """Another queue sharing members with the one being served."""

    queue_id: int
    weight: int
    waiting_callers: int
    member_ids: frozenset[int]
    oldest_caller_since: float | None = None


@dataclass(frozen=True, slots=True)
class QueueAdmission:
    admitted: bool
    target: Target | None = None


def queue_admission(queue: QueueConfig, waiting_callers: int) -> QueueAdmission:
    """Can a new caller join? When ``maxlen`` callers are already waiting the caller goes to the
    full-queue target (``None`` → hang up)."""
    if queue.maxlen and waiting_callers >= queue.maxlen:
        return QueueAdmission(False, queue.full_target)
    return QueueAdmission(True)


@dataclass(frozen=True, slots=True)
class QueueWaitStatus:
    timed_out: bool
    remaining: float | None
    target: Target | None = None


def queue_wait_status(queue: QueueConfig, entered_at: float, now: float) -> QueueWaitStatus:
    """Has the caller waited ``max_wait_time`` seconds? Then it goes to the timeout target."""
    if not queue.max_wait_time:
        return QueueWaitStatus(False, None)
    remaining = entered_at + queue.max_wait_time - now
    if remaining <= 0:
        return QueueWaitStatus(True, 0.0, queue.timeout_target)
    return QueueWaitStatus(False, remaining)


def queue_member_available(queue: QueueConfig, member: QueueMember, now: float) -> bool:
    """Free, not paused and not resting (``member_call_rest`` seconds after its last call)."""
    if member.status != "available" or member.paused:
        return False
    if queue.member_call_rest and member.last_call_end is not None:
        return now - member.last_call_end >= queue.member_call_rest
    return True


def queue_for_member(member_id: int, queues: Sequence[CompetingQueue]) -> CompetingQueue | None:
    """Which queue a free member shared by several queues serves next: the highest weight one
    with waiting callers; ties → the longest waiting caller, then the lowest queue id."""
    candidates = [q for q in queues if member_id in q.member_ids and q.waiting_callers > 0]
    if not candidates:
        return None

    def key(q: CompetingQueue) -> tuple[int, float, int]:
        since = q.oldest_caller_since if q.oldest_caller_since is not None else float("inf")
        return (-q.weight, since, q.queue_id)

    return min(candidates, key=key)


@dataclass(frozen=True, slots=True)
class QueueRingDecision:
    """Members to ring now (together), for ``timeout`` seconds (``None`` = no limit).

    ``reason``: ``ring``; ``no_member_available`` (caller keeps waiting); ``empty`` (no members).
    ``penalty`` is the penalty level in use (``None`` for ``wrandom`` or when nobody rings).
    """

    members: tuple[int, ...]
    timeout: float | None
    reason: Literal["ring", "no_member_available", "empty"]
    penalty: int | None = None


def _ring_timeout(queue: QueueConfig, wait_remaining: float | None) -> float | None:
    timeout: float | None = float(queue.member_call_timeout) if queue.member_call_timeout else None
    if wait_remaining is not None:
        timeout = wait_remaining if timeout is None else min(timeout, wait_remaining)
    return timeout


def select_queue_members(
    queue: QueueConfig,
    members: Sequence[QueueMember],
    *,
    now: float,
    rng: random.Random,
    tried: frozenset[int] = frozenset(),
    last_member_id: int | None = None,
    competing: Sequence[CompetingQueue] = (),
    wait_remaining: float | None = None,
) -> QueueRingDecision:
    """Which member(s) ring next for the caller at the head of the queue.

    Only members of the lowest penalty level with an available member are considered (a level is
    used only when every member of lower penalty is busy/unavailable). Members that also belong
    to a heavier (higher weight) queue with waiting callers are left for that queue.
    ``tried`` are members already rung for this caller without answer; they are skipped until
    every candidate of the level was tried (then a new round starts). ``last_member_id`` is the
    round-robin memory (the last member that attended a call).
    """
    if not members:
        return QueueRingDecision((), None, "empty")

    reserved: set[int] = set()
    for other in competing:
        if other.weight > queue.weight and other.waiting_callers > 0:
            reserved |= other.member_ids
    eligible = [
        (position, m)
        for position, m in enumerate(members)
        if m.member_id not in reserved and queue_member_available(queue, m, now)
    ]
    if not eligible:
        return QueueRingDecision((), None, "no_member_available")
    timeout = _ring_timeout(queue, wait_remaining)

    if queue.strategy == "wrandom":
        # Asterisk wrandom: penalty is a weight, no penalty levels. Lowest random metric wins.
        pool = [pm for pm in eligible if pm[1].member_id not in tried] or eligible
        metrics = [(rng.randrange((1 + max(m.penalty, 0)) * 1000), pos, m) for pos, m in pool]
        winner = min(metrics, key=lambda t: (t[0], t[1]))[2]
        return QueueRingDecision((winner.member_id,), timeout, "ring")

    level = min(m.penalty for _, m in eligible)
    tier = [(pos, m) for pos, m in eligible if m.penalty == level]

    if queue.strategy == "ringall":
        return QueueRingDecision(tuple(m.member_id for _, m in tier), timeout, "ring", level)

    pool = [pm for pm in tier if pm[1].member_id not in tried] or tier
    chosen: QueueMember
    if queue.strategy == "linear":
        chosen = pool[0][1]
    elif queue.strategy == "leastrecent":
        chosen = min(
            pool,
            key=lambda pm: (
                pm[1].last_call_end is not None,
                pm[1].last_call_end or 0.0,
                pm[0],
            ),
        )[1]
    elif queue.strategy == "fewestcalls":
        chosen = min(pool, key=lambda pm: (pm[1].calls_taken, pm[0]))[1]
    elif queue.strategy == "random":
        chosen = rng.choice(pool)[1]
    else:  # rrmemory / rrordered: the next one past the last member that attended a call
        last_position = next((pos for pos, m in enumerate(members) if m.member_id == last_member_id), -1)
        chosen = min(pool, key=lambda pm: (pm[0] - last_position - 1) % len(members))[1]
    return QueueRingDecision((chosen.member_id,), timeout, "ring", level)
