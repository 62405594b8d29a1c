"""Call registry (spec 10.1.14): the ``users_cdrs`` rows of a call, written when it ends.

All the calls of a client are registered, internal ones and those without cost included: one
row per involved user or friend (IvozProvider writes one ``kam_users_cdrs`` row per leg of
proxy-users and migrates them to ``UsersCdrs``):

* the calling user / friend: ``direction=outbound``;
* the called side, ``direction=inbound``: the user or friend that answered (forwards, hunt
  groups, transfers: whoever was bridged last); for unanswered calls every user / friend that
  was rung (``missed``, ``busy`` or ``error``), except hunt group members of groups that
  prevent missed calls (spec 10.1.5).

``owner`` is the involved party's own number (the user's extension, the friend's name),
``caller`` / ``callee`` are the numbers of the call as that party sees them, ``duration`` the
seconds of conversation (0 when unanswered). See docs/appserver-dialplan.md §13.
"""

from __future__ import annotations

import logging
from datetime import UTC
from decimal import Decimal
from typing import Any

from polyvox.appserver.plan import CallEnded, Disposition, IncomingCall, Origin, Target
from polyvox.appserver.repository import AppRepository

log = logging.getLogger("polyvox.appserver.registry")

#: users_cdrs.disposition of each way a call ends
DISPOSITION = {Disposition.ANSWERED: "answered", Disposition.BUSY: "busy", Disposition.NO_ANSWER: "missed",
               Disposition.CANCELLED: "missed", Disposition.FAILED: "error"}


def _party(target: Target) -> tuple[str, int] | None:
    """("user"|"friend", id) rung by a target."""
    if target.user_id is not None:
        return "user", target.user_id
    if target.label.startswith("friend:"):
        try:
            return "friend", int(target.label.split(":", 1)[1].split("/", 1)[0])
        except ValueError:
            return None
    return None


def _prevents_missed_calls(repo: AppRepository, target: Target) -> bool:
    if not target.label.startswith("hg:"):
        return False
    try:
        hg = repo.hunt_group(int(target.label[3:].split("/", 1)[0]))
    except ValueError:
        return False
    return bool(hg and hg.get("preventMissedCalls"))


class CallRegistry:
    def __init__(self, repo: AppRepository) -> None:
        self.repo = repo

    def rows(self, call: IncomingCall, info: CallEnded) -> list[dict[str, Any]]:
        repo = self.repo
        start = info.start.astimezone(UTC).replace(tzinfo=None)
        duration = Decimal(str(round(info.duration, 4))).quantize(Decimal("0.0001"))
        disposition = DISPOSITION[info.disposition]
        rows: list[dict[str, Any]] = []

        def owner_of(kind: str, ident: int) -> tuple[dict[str, Any], str | None, int | None] | None:
            if kind == "user":
                user = repo.user(ident)
                if user is None:
                    return None
                ext = repo.extension(user.get("extensionId"))
                return user, (str(ext["number"]) if ext else None), (int(ext["id"]) if ext else None)
            friend = repo.friend(ident)
            return (friend, str(friend["name"]), None) if friend else None

        def row(kind: str, ident: int, direction: str, caller: str | None, callee: str | None,
                disp: str) -> None:
            found = owner_of(kind, ident)
            if found is None:
                return
            ent, owner, ext_id = found
            rows.append({
                "brandId": call.brand_id, "companyId": int(ent.get("companyId") or call.company_id),
                "startTime": start, "duration": duration if disp == "answered" else Decimal("0.0000"),
                "direction": direction, "caller": (caller or "")[:128] or None, "callee": (callee or "")[:128] or None,
                "owner": owner, "callid": call.call_id[:255], "disposition": disp, "numRecordings": 0,
                "userId": ident if kind == "user" else None, "friendId": ident if kind == "friend" else None,
                "extensionId": ext_id})

        # the caller side
        caller_number = call.caller
        caller_party: tuple[str, int] | None = None
        if call.origin is Origin.ENDPOINT:
            if call.endpoint_type in (None, "terminal"):
                user = repo.user_of_terminal(call.endpoint_id) if call.endpoint_id is not None else None
                user = user or (repo.user(call.user_id) if call.user_id is not None else None)
                if user is not None:
                    caller_party = ("user", int(user["id"]))
                    ext = repo.extension(user.get("extensionId"))
                    caller_number = str(ext["number"]) if ext else call.caller
            elif call.endpoint_type == "friend" and call.endpoint_id is not None:
                caller_party = ("friend", call.endpoint_id)
        callee = call.ddi or call.dialled
        if caller_party is not None:
            row(*caller_party, "outbound", caller_number, call.dialled, disposition)
        # the called side
        if info.disposition is Disposition.ANSWERED:
            who = _party(info.answered_by) if info.answered_by is not None else None
            if who is not None:
                row(*who, "inbound", caller_number, callee, disposition)
        else:
            seen: set[tuple[str, int]] = set()
            for t in info.tried:
                who = _party(t)
                if who is None or who in seen or _prevents_missed_calls(repo, t):
                    continue
                seen.add(who)
                row(*who, "inbound", caller_number, callee, disposition)
        return rows

    def record(self, call: IncomingCall, info: CallEnded) -> None:
        rows = self.rows(call, info)
        self.repo.record_calls(rows)
        log.info("call %s: %s, %d call registry rows", call.call_id, info.disposition.value, len(rows))
