"""Spec 10.1.5 Friends: "What kind of calls can be routed through a remote/internal friend?"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.pbx import FriendRoute, route_dialled_number

EXTENSIONS = {"100", "101", "200"}


def ext(number: str) -> bool:
    return number in EXTENSIONS


FRIENDS = (
    FriendRoute(1, priority=5, patterns=("^2[0-9]{2}$",)),
    FriendRoute(2, priority=1, patterns=("^3[0-9]{2}$", "^(4|5)[0-9]{2}$")),
    FriendRoute(3, priority=1, patterns=("^5",)),
    FriendRoute(4, priority=3, target_extension_exists=lambda n: n in {"900", "300"}),
    FriendRoute(5, priority=9, patterns=("[",)),  # invalid regex never matches
)


@pytest.mark.parametrize(
    ("dialled", "kind", "friend_id"),
    [
        ("100", "extension", None),  # internal extensions have priority over friends
        ("200", "extension", None),
        ("250", "friend", 1),
        ("300", "friend", 2),  # friend 2 (prio 1) beats internal friend 4 (prio 3)
        ("512", "friend", 2),  # tie on priority: configuration order
        ("5", "friend", 3),
        ("900", "friend", 4),  # internal (interVPBX) friend: target client's extensions
        ("+34676676676", "external", None),
        ("[", "external", None),
    ],
)
def test_10_1_5_friends_extension_then_friend_by_priority_then_external(
    dialled: str, kind: str, friend_id: int | None
) -> None:
    route = route_dialled_number(dialled, ext, FRIENDS)
    assert (route.kind, route.friend_id) == (kind, friend_id)


def test_10_1_5_friends_never_route_back_to_calling_friend() -> None:
    assert route_dialled_number("300", ext, FRIENDS, calling_friend_id=2).friend_id == 4
    assert route_dialled_number("250", ext, FRIENDS, calling_friend_id=1).kind == "external"


@given(
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=6),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_10_1_5_friends_lowest_priority_value_wins(priorities: list[int], dialled: str) -> None:
    friends = [FriendRoute(i, priority=p, patterns=("^[0-9]+$",)) for i, p in enumerate(priorities)]
    route = route_dialled_number(dialled, lambda _: False, friends)
    assert route.friend_id == priorities.index(min(priorities))
