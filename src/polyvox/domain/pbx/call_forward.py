"""Calls to users and friends: call forwards, DND, call waiting, boss–assistant, reject method;
and the call forwards of retail accounts and residential devices (per called DDI).

Spec 10.1.1 "Basic Configuration", "Boss-Assistant", "User Call Forward"; 10.1.5 "Friend Call
Forward"; 10.3.1 retail call forwards; 4.4 final user role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from polyvox.domain.numbering import to_e164
from polyvox.domain.pbx.common import CallType, DialOutcome, Target

__all__ = [
    "AnsweredCall",
    "CallForwardSetting",
    "CallForwardType",
    "CallTypeFilter",
    "DdiForward",
    "EndpointPresence",
    "ForwardCall",
    "FriendProfile",
    "HangupCall",
    "IncomingCall",
    "RejectMethod",
    "RingEndpoint",
    "RouteToAssistant",
    "SignalBusy",
    "SignalUnavailable",
    "UserCallDecision",
    "UserProfile",
    "applicable_forward",
    "can_call_boss",
    "contacts_to_ring",
    "decide_friend_call",
    "decide_user_call",
    "exceeds_call_waiting",
    "forward_number",
    "friend_dial_result",
    "pick_forward",
    "reject_scope",
    "user_dial_result",
]

CallTypeFilter = Literal["internal", "external", "both", "any"]
"""``both`` is IvozProvider's value; ``any`` is accepted as an alias."""

CallForwardType = Literal["inconditional", "noAnswer", "busy", "userNotRegistered"]
RejectMethod = Literal["rfc", "486", "600"]
RedirectReason = Literal["cfu", "cfb", "cfnr", "unavailable"]

_REASON: dict[CallForwardType, RedirectReason] = {
    "inconditional": "cfu",
    "busy": "cfb",
    "noAnswer": "cfnr",
    "userNotRegistered": "unavailable",
}


@dataclass(frozen=True, slots=True)
class CallForwardSetting:
    forward_type: CallForwardType
    target: Target
    call_type_filter: CallTypeFilter = "both"
    no_answer_timeout: int = 10
    enabled: bool = True
    setting_id: int | None = None

    def applies_to(self, call_type: CallType) -> bool:
        return self.enabled and self.call_type_filter in ("both", "any", call_type)


@dataclass(frozen=True, slots=True)
class UserProfile:
    """User settings relevant to receiving calls. ``max_calls`` is the call waiting limit
    (0 = unlimited). ``boss_whitelist`` is the whitelist match-list check (injected)."""

    user_id: int
    call_forwards: tuple[CallForwardSetting, ...] = ()
    do_not_disturb: bool = False
    max_calls: int = 0
    reject_call_method: RejectMethod = "rfc"
    multi_contact: bool = True
    has_terminal: bool = True
    is_boss: bool = False
    assistant_id: int | None = None
    assistant_extension: str | None = None
    boss_whitelist: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class FriendProfile:
    friend_id: int
    call_forwards: tuple[CallForwardSetting, ...] = ()
    multi_contact: bool = True


@dataclass(frozen=True, slots=True)
class EndpointPresence:
    """Live state: is a SIP device registered, how many calls is it handling."""

    registered: bool = True
    active_calls: int = 0


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """``caller`` is the caller number/extension as matched by the boss whitelist."""

    call_type: CallType
    caller: str
    caller_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class ForwardCall:
    setting: CallForwardSetting
    reason: RedirectReason

    @property
    def target(self) -> Target:
        return self.setting.target


@dataclass(frozen=True, slots=True)
class RouteToAssistant:
    assistant_id: int


@dataclass(frozen=True, slots=True)
class RingEndpoint:
    """Ring the endpoint for ``timeout`` seconds (``None`` = until the caller gives up) and feed
    the dial result to :func:`user_dial_result` / :func:`friend_dial_result` when
    ``status_required`` (some post-dial forward exists)."""

    timeout: int | None
    status_required: bool
    reject_method: RejectMethod = "rfc"
    multi_contact: bool = True


@dataclass(frozen=True, slots=True)
class SignalBusy:
    reason: Literal["dnd", "call_waiting", "busy", "rejected"]


@dataclass(frozen=True, slots=True)
class SignalUnavailable:
    reason: Literal["not_registered", "no_terminal"]


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    pass


@dataclass(frozen=True, slots=True)
class HangupCall:
    """The call ends with no forward (no answer without forward, or the caller hung up)."""

    reason: Literal["noanswer", "cancel"]


UserCallDecision = (
    ForwardCall | RouteToAssistant | RingEndpoint | SignalBusy | SignalUnavailable | AnsweredCall | HangupCall
)


def applicable_forward(
    settings: Sequence[CallForwardSetting], forward_type: CallForwardType, call_type: CallType
) -> CallForwardSetting | None:
    """First enabled setting of ``forward_type`` whose call type filter covers ``call_type``."""
    for setting in settings:
        if setting.forward_type == forward_type and setting.applies_to(call_type):
            return setting
    return None


def exceeds_call_waiting(active_calls: int, max_calls: int) -> bool:
    """Call waiting: a user handling ``max_calls`` calls is busy (0 = unlimited)."""
    return max_calls > 0 and active_calls >= max_calls


def can_call_boss(boss: UserProfile, call: IncomingCall) -> bool:
    """The assistant (by user id or extension) and whitelisted origins may call the boss."""
    if boss.assistant_id is not None and call.caller_user_id == boss.assistant_id:
        return True
    if boss.assistant_extension is not None and call.caller == boss.assistant_extension:
        return True
    return boss.boss_whitelist is not None and boss.boss_whitelist(call.caller)


def _forward_or(
    settings: Sequence[CallForwardSetting],
    forward_type: CallForwardType,
    call_type: CallType,
    fallback: UserCallDecision,
) -> UserCallDecision:
    setting = applicable_forward(settings, forward_type, call_type)
    if setting is None:
        return fallback
    return ForwardCall(setting, _REASON[forward_type])


def _ring(
    settings: Sequence[CallForwardSetting],
    call_type: CallType,
    reject_method: RejectMethod,
    multi_contact: bool,
) -> RingEndpoint:
    no_answer = applicable_forward(settings, "noAnswer", call_type)
    status_required = any(
        applicable_forward(settings, t, call_type) is not None
        for t in ("noAnswer", "busy", "userNotRegistered")
    )
    return RingEndpoint(
        timeout=no_answer.no_answer_timeout if no_answer is not None else None,
        status_required=status_required,
        reject_method=reject_method,
        multi_contact=multi_contact,
    )


def decide_user_call(user: UserProfile, presence: EndpointPresence, call: IncomingCall) -> UserCallDecision:
    """What to do with a call to ``user``, before dialling. Order:

    1. unconditional forward; 2. DND → busy (busy forward if any); 3. boss → assistant unless
    the caller may call the boss; 4. no terminal / not registered → "not registered" forward or
    unavailable; 5. call waiting limit reached → busy (busy forward if any); 6. ring, with the
    no-answer forward's timeout.
    """
    fwd = user.call_forwards
    ct = call.call_type
    unconditional = applicable_forward(fwd, "inconditional", ct)
    if unconditional is not None:
        return ForwardCall(unconditional, "cfu")
    if user.do_not_disturb:
        return _forward_or(fwd, "busy", ct, SignalBusy("dnd"))
    if user.is_boss and user.assistant_id is not None and not can_call_boss(user, call):
        return RouteToAssistant(user.assistant_id)
    if not user.has_terminal:
        return _forward_or(fwd, "userNotRegistered", ct, SignalUnavailable("no_terminal"))
    if not presence.registered:
        return _forward_or(fwd, "userNotRegistered", ct, SignalUnavailable("not_registered"))
    if exceeds_call_waiting(presence.active_calls, user.max_calls):
        return _forward_or(fwd, "busy", ct, SignalBusy("call_waiting"))
    return _ring(fwd, ct, user.reject_call_method, user.multi_contact)


def _dial_result(
    settings: Sequence[CallForwardSetting], call_type: CallType, outcome: DialOutcome
) -> UserCallDecision:
    if outcome == "answer":
        return AnsweredCall()
    if outcome == "cancel":
        return HangupCall("cancel")
    if outcome == "noanswer":
        return _forward_or(settings, "noAnswer", call_type, HangupCall("noanswer"))
    if outcome == "unavailable":
        return _forward_or(settings, "userNotRegistered", call_type, SignalUnavailable("not_registered"))
    reason: Literal["busy", "rejected"] = "rejected" if outcome == "rejected" else "busy"
    return _forward_or(settings, "busy", call_type, SignalBusy(reason))


def user_dial_result(user: UserProfile, call: IncomingCall, outcome: DialOutcome) -> UserCallDecision:
    """After dialling: no answer → no-answer forward; busy or rejected → busy forward (else busy);
    unavailable → not-registered forward (else unavailable)."""
    return _dial_result(user.call_forwards, call.call_type, outcome)


def decide_friend_call(
    friend: FriendProfile, presence: EndpointPresence, call: IncomingCall
) -> UserCallDecision:
    """Calls to a friend: unconditional forward, then not registered, then ring."""
    fwd = friend.call_forwards
    ct = call.call_type
    unconditional = applicable_forward(fwd, "inconditional", ct)
    if unconditional is not None:
        return ForwardCall(unconditional, "cfu")
    if not presence.registered:
        return _forward_or(fwd, "userNotRegistered", ct, SignalUnavailable("not_registered"))
    return _ring(fwd, ct, "rfc", friend.multi_contact)


def friend_dial_result(friend: FriendProfile, call: IncomingCall, outcome: DialOutcome) -> UserCallDecision:
    """After dialling a friend (busy = the friend rejected the call)."""
    return _dial_result(friend.call_forwards, call.call_type, outcome)


def reject_scope(method: RejectMethod, response_code: int) -> Literal["all_devices", "this_device"]:
    """Multi-contact rejection: cancel the call on every ringing device or only on the one that
    declined. ``rfc`` → all devices for 600/603, this device otherwise; ``486`` forces this
    device; ``600`` forces all devices."""
    if method == "600":
        return "all_devices"
    if method == "486":
        return "this_device"
    return "all_devices" if response_code in (600, 603) else "this_device"


def contacts_to_ring(contacts: Sequence[tuple[str, float]], multi_contact: bool) -> tuple[str, ...]:
    """Registered contacts ``(uri, registered_at)`` to ring: all of them (parallel forking), or
    only the latest registered one when multi contact is off."""
    if multi_contact or not contacts:
        return tuple(uri for uri, _ in contacts)
    latest = max(range(len(contacts)), key=lambda i: (contacts[i][1], i))
    return (contacts[latest][0],)


class DdiForward(Protocol):
    """A retail/residential call forward as :func:`pick_forward` reads it: its ``type`` and the
    DDI it is set for (``None``: any DDI)."""

    @property
    def type(self) -> str: ...

    @property
    def ddi_id(self) -> int | None: ...


_F = TypeVar("_F", bound=DdiForward)


def pick_forward(forwards: Iterable[_F], kind: str, ddi_id: int | None) -> _F | None:
    """The call forward of ``kind`` for a call to ``ddi_id``: one set for that DDI wins over one
    for any DDI (spec 10.3.1); the first of each kind counts."""
    generic: _F | None = None
    for f in forwards:
        if f.type != kind:
            continue
        if f.ddi_id is not None and f.ddi_id == ddi_id:
            return f
        if f.ddi_id is None and generic is None:
            generic = f
    return generic


def forward_number(number: str | None, country_prefix: str) -> str:
    """E.164 target of a call forward to a number: ``numberValue`` (visual separators dropped) as
    is when it starts with ``+``/``00``, else prefixed with the country's calling code
    (``numberCountry``, ``"+34"`` or ``"34"``); ``""`` when no digit is left."""
    n = "".join(ch for ch in (number or "") if ch.isdigit() or ch == "+")
    if not n:
        return ""
    if n.startswith("+") or n.startswith("00"):
        return to_e164(n)
    cc = country_prefix.strip()
    if cc and not cc.startswith("+"):
        cc = "+" + cc
    return cc + n if cc else to_e164(n)
