"""Routing of numbers dialled by users and friends (spec 10.1.5 Friends, "What kind of calls
can be routed through..."): extension first, then friends by priority, then external."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from polyvox.domain.pbx.common import regex_search

__all__ = ["DialledRoute", "FriendRoute", "friend_matches", "route_dialled_number"]


@dataclass(frozen=True, slots=True)
class FriendRoute:
    """A friend as a routing candidate. Remote friends list their ``patterns`` (regular
    expressions); internal (interVPBX) friends give ``target_extension_exists``, the check of
    the target client's extensions."""

    friend_id: int
    priority: int = 1
    patterns: tuple[str, ...] = ()
    target_extension_exists: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class DialledRoute:
    kind: Literal["extension", "friend", "external"]
    friend_id: int | None = None


def friend_matches(friend: FriendRoute, number: str) -> bool:
    if any(regex_search(pattern, number) for pattern in friend.patterns):
        return True
    return friend.target_extension_exists is not None and friend.target_extension_exists(number)


def route_dialled_number(
    number: str,
    extension_exists: Callable[[str], bool],
    friends: Sequence[FriendRoute],
    *,
    calling_friend_id: int | None = None,
) -> DialledRoute:
    """1. an extension of the client; 2. the matching friend with the lowest priority (ties: given
    order); 3. an external call. A friend never routes back to itself (``calling_friend_id``)."""
    if extension_exists(number):
        return DialledRoute("extension")
    ordered = sorted(enumerate(friends), key=lambda pair: (pair[1].priority, pair[0]))
    for _, friend in ordered:
        if friend.friend_id != calling_friend_id and friend_matches(friend, number):
            return DialledRoute("friend", friend.friend_id)
    return DialledRoute("external")
