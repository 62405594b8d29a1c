"""Hunt groups (spec 10.1.5 "Hunt groups"): ring plans and their step-by-step execution."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from polyvox.domain.pbx.common import DialOutcome, Target

__all__ = [
    "HuntGroup",
    "HuntGroupMember",
    "HuntGroupNext",
    "HuntGroupPlan",
    "HuntGroupStrategy",
    "RingStep",
    "hunt_group_after_dial",
    "hunt_group_members_in_order",
    "hunt_group_start",
    "plan_hunt_group",
    "round_robin_next_start",
]

HuntGroupStrategy = Literal["ringAll", "linear", "roundRobin", "random"]
HUNT_GROUP_STRATEGIES: tuple[HuntGroupStrategy, ...] = ("ringAll", "linear", "roundRobin", "random")


@dataclass(frozen=True, slots=True)
class HuntGroupMember:
    """A hunt group member: a user (``user_id``) or an external number (``number``, E.164).

    ``priority`` orders members (lower first) and ``timeout`` is the ring time in seconds;
    both are ignored by ``ringAll`` groups. ``has_terminal`` is False for users with no
    terminal (they cannot be dialled directly).
    """

    member_id: int
    user_id: int | None = None
    number: str | None = None
    priority: int | None = None
    timeout: int | None = None
    has_terminal: bool = True

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.number is None):
            raise ValueError("hunt group member must have exactly one of user_id or number")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("hunt group member timeout must be positive")

    @property
    def is_user(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True, slots=True)
class HuntGroup:
    strategy: HuntGroupStrategy
    members: tuple[HuntGroupMember, ...] = ()
    ring_all_timeout: int | None = None
    no_answer_target: Target | None = None
    prevent_missed_calls: bool = True
    allow_call_forwards: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in HUNT_GROUP_STRATEGIES:
            raise ValueError(f"unknown hunt group strategy {self.strategy!r}")
        if self.strategy == "ringAll":
            if self.ring_all_timeout is None or self.ring_all_timeout <= 0:
                raise ValueError("ringAll hunt groups need a positive ring_all_timeout")
        else:
            for member in self.members:
                if member.timeout is None:
                    raise ValueError(f"member {member.member_id} needs a timeout for {self.strategy}")


@dataclass(frozen=True, slots=True)
class RingStep:
    """Members that ring together, for ``timeout`` seconds."""

    members: tuple[HuntGroupMember, ...]
    timeout: int


@dataclass(frozen=True, slots=True)
class HuntGroupPlan:
    """How a call to a hunt group is delivered.

    ``steps`` are tried in order. When ``loops`` is True (round robin) a member that did not
    answer goes back to the end of the list, so the steps repeat until somebody answers or every
    member is busy/unavailable. When no step is left the call goes to ``no_answer`` (``None`` →
    hang up). ``apply_user_logic`` tells whether user members are called through their user logic
    (call forwards, DND, boss–assistant) or their terminal is dialled directly.
    ``cancel_as_answered_elsewhere`` is the Dial ``c`` option (prevent missed calls).
    """

    strategy: HuntGroupStrategy
    steps: tuple[RingStep, ...]
    loops: bool
    no_answer: Target | None
    apply_user_logic: bool
    cancel_as_answered_elsewhere: bool


def _priority_key(indexed: tuple[int, HuntGroupMember]) -> tuple[int, int, int]:
    index, member = indexed
    if member.priority is None:
        return (1, 0, index)
    return (0, member.priority, index)


def hunt_group_members_in_order(members: Sequence[HuntGroupMember]) -> tuple[HuntGroupMember, ...]:
    """Members by priority (lower first); equal or missing priorities keep their given order,
    missing priorities go last."""
    return tuple(member for _, member in sorted(enumerate(members), key=_priority_key))


def round_robin_next_start(
    members: Sequence[HuntGroupMember], last_member_id: int | None
) -> HuntGroupMember | None:
    """First member to ring for the next round-robin call.

    It is the member right after ``last_member_id`` (the last member that answered or was tried)
    in priority order, wrapping around; the first member when there is no memory or the
    remembered member is gone. ``None`` for an empty group.
    """
    ordered = hunt_group_members_in_order(members)
    if not ordered:
        return None
    for index, member in enumerate(ordered):
        if member.member_id == last_member_id:
            return ordered[(index + 1) % len(ordered)]
    return ordered[0]


def _dialable(group: HuntGroup) -> list[HuntGroupMember]:
    if group.allow_call_forwards:
        # User logic decides (a user without terminal may still forward "not registered").
        return list(group.members)
    return [m for m in group.members if not m.is_user or m.has_terminal]


def plan_hunt_group(
    group: HuntGroup,
    *,
    rng: random.Random | None = None,
    last_member_id: int | None = None,
) -> HuntGroupPlan:
    """Build the ring plan of a call to ``group``.

    * ``ringAll``: one step with every member for ``ring_all_timeout``.
    * ``linear``: one step per member in priority order, each with its own timeout.
    * ``roundRobin``: like linear but starting at :func:`round_robin_next_start` and looping.
    * ``random``: one step per member in an order drawn from ``rng`` (required).
    """
    members = _dialable(group)
    steps: tuple[RingStep, ...]
    if group.strategy == "ringAll":
        assert group.ring_all_timeout is not None  # validated by HuntGroup
        ordered = hunt_group_members_in_order(members)
        steps = (RingStep(ordered, group.ring_all_timeout),) if ordered else ()
    else:
        ordered_list = list(hunt_group_members_in_order(members))
        if group.strategy == "random":
            if rng is None:
                raise ValueError("random hunt groups need a random.Random instance")
            rng.shuffle(ordered_list)
        elif group.strategy == "roundRobin":
            start = round_robin_next_start(ordered_list, last_member_id)
            if start is not None:
                pivot = ordered_list.index(start)
                ordered_list = ordered_list[pivot:] + ordered_list[:pivot]
        steps = tuple(RingStep((m,), _timeout(m)) for m in ordered_list)
    return HuntGroupPlan(
        strategy=group.strategy,
        steps=steps,
        loops=group.strategy == "roundRobin",
        no_answer=group.no_answer_target,
        apply_user_logic=bool(group.allow_call_forwards),
        cancel_as_answered_elsewhere=bool(group.prevent_missed_calls),
    )


def _timeout(member: HuntGroupMember) -> int:
    assert member.timeout is not None  # validated by HuntGroup
    return member.timeout


@dataclass(frozen=True, slots=True)
class HuntGroupNext:
    """What to do after a ring step ended.

    ``kind``: ``answered`` (done), ``hangup`` (caller gone), ``ring`` (ring ``pending[0]``),
    ``no_answer`` (route to ``target``; ``None`` → hang up).
    ``pending`` holds the steps still to ring, current one first (feed it back on the next call).
    ``last_rung`` are the members of the step that just ended (round-robin memory).
    """

    kind: Literal["answered", "hangup", "ring", "no_answer"]
    pending: tuple[RingStep, ...] = ()
    target: Target | None = None
    last_rung: tuple[HuntGroupMember, ...] = ()

    @property
    def step(self) -> RingStep | None:
        return self.pending[0] if self.kind == "ring" else None


def hunt_group_start(plan: HuntGroupPlan) -> HuntGroupNext:
    """First action of a plan: ring the first step, or go to the no-answer target if empty."""
    if not plan.steps:
        return HuntGroupNext("no_answer", (), plan.no_answer)
    return HuntGroupNext("ring", plan.steps)


def hunt_group_after_dial(
    plan: HuntGroupPlan, pending: tuple[RingStep, ...], outcome: DialOutcome
) -> HuntGroupNext:
    """Advance a plan after ringing ``pending[0]`` ended with ``outcome``.

    Round robin puts a step that was not answered back at the end of the list (so it loops);
    busy/unavailable/rejected members are dropped for this call, as in every other strategy.
    """
    if outcome == "answer":
        return HuntGroupNext("answered", ())
    if outcome == "cancel":
        return HuntGroupNext("hangup", ())
    if not pending:
        return HuntGroupNext("no_answer", (), plan.no_answer)
    current, rest = pending[0], pending[1:]
    if plan.loops and outcome == "noanswer":
        rest = (*rest, current)
    if not rest:
        return HuntGroupNext("no_answer", (), plan.no_answer, current.members)
    return HuntGroupNext("ring", rest, None, current.members)
