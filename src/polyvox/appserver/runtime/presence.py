"""Calls in progress per user, in this application server process (``plan.Presence``)."""

from __future__ import annotations

from collections import Counter


class ActiveCalls:
    """A user is "in a call" while it is the caller of a call handled here (from the INVITE to the
    end of the call) and while one of its targets rings or is bridged. One process = the
    recommended ``hash`` distribution keeps every call of a client on one process."""

    def __init__(self) -> None:
        self._count: Counter[int] = Counter()

    def user_active_calls(self, user_id: int) -> int:
        return self._count.get(user_id, 0)

    def add(self, user_id: int | None) -> None:
        if user_id is not None:
            self._count[user_id] += 1

    def remove(self, user_id: int | None) -> None:
        if user_id is not None and self._count.get(user_id, 0) > 0:
            self._count[user_id] -= 1
            if self._count[user_id] == 0:
                del self._count[user_id]

    def snapshot(self) -> dict[int, int]:
        return dict(self._count)
