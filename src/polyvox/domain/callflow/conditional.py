"""Conditional routes (spec 10.1.5 "Evaluating conditional routes").

* Conditions are evaluated by ascending metric (priority); the first whose
  criteria are all fulfilled gives the route. Equal metrics keep input order.
* A condition has up to four criteria combined with AND; inside one criterion
  any selected item suffices (OR). A criterion with nothing selected is
  fulfilled.

  - match lists: the caller matches any selected list;
  - schedules: the local time is inside any selected schedule;
  - calendars: any selected calendar marks the local day (whole-day event) or
    the local time (non-whole-day event) as holiday. Calendar periods are
    **not** taken into account;
  - route locks: any selected lock is open (lock states are an input).
* No condition matches → the conditional route's default route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .matchlist import MatchList, any_list_matches
from .targets import Route
from .timeconditions import Calendar, Schedule, any_on_schedule, is_holiday, to_local

__all__ = [
    "ConditionalRoute",
    "ConditionalRouteCondition",
    "ConditionalRouteDecision",
    "evaluate_conditional_route",
]


@dataclass(frozen=True, slots=True)
class ConditionalRouteCondition:
    """One rule of a conditional route."""

    priority: int
    route: Route
    match_lists: tuple[MatchList, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    calendars: tuple[Calendar, ...] = ()
    route_lock_ids: tuple[int, ...] = ()
    id: int | None = None

    def matches_origin(self, caller: str) -> bool:
        return not self.match_lists or any_list_matches(self.match_lists, caller)

    def matches_schedule(self, local: datetime) -> bool:
        return not self.schedules or any_on_schedule(self.schedules, local)

    def matches_calendar(self, local: datetime) -> bool:
        return not self.calendars or is_holiday(self.calendars, local)

    def matches_route_lock(self, lock_open: Mapping[int, bool]) -> bool:
        return not self.route_lock_ids or any(lock_open.get(lock, False) for lock in self.route_lock_ids)

    def matches(self, caller: str, local: datetime, lock_open: Mapping[int, bool]) -> bool:
        """AND of the four criteria for a local wall-clock time."""
        return (
            self.matches_origin(caller)
            and self.matches_schedule(local)
            and self.matches_calendar(local)
            and self.matches_route_lock(lock_open)
        )


@dataclass(frozen=True, slots=True)
class ConditionalRoute:
    """A conditional route: ordered conditions plus the no-match route."""

    name: str
    default_route: Route
    conditions: tuple[ConditionalRouteCondition, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ConditionalRouteDecision:
    """The route to apply and the condition that selected it (None = default)."""

    route: Route
    condition: ConditionalRouteCondition | None = None

    @property
    def is_default(self) -> bool:
        return self.condition is None


def evaluate_conditional_route(
    conditional_route: ConditionalRoute,
    caller: str,
    now: datetime,
    timezone: str,
    lock_open: Mapping[int, bool],
) -> ConditionalRouteDecision:
    """Pick the route of ``conditional_route`` for a call.

    ``caller`` is the E.164 origin, ``now`` an aware datetime, ``timezone`` the
    client's IANA timezone and ``lock_open`` the current state of route locks by
    id (True = opened). A lock missing from the mapping counts as closed.
    """
    local = to_local(now, timezone)
    ordered = sorted(conditional_route.conditions, key=lambda condition: condition.priority)
    for condition in ordered:
        if condition.matches(caller, local, lock_open):
            return ConditionalRouteDecision(condition.route, condition)
    return ConditionalRouteDecision(conditional_route.default_route)
