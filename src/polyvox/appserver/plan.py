"""The contract between the application server's SIP runtime and its call logic (dialplan).

The runtime (``polyvox.appserver.runtime``: sippy bridge, legs, forking, CANCEL, transfers) knows
SIP and nothing about tenants; the dialplan (``polyvox.appserver.dialplan``) knows tenants and the
spec's rules (through ``polyvox.domain``) and nothing about SIP transactions. They meet here:

1. For every new INVITE the runtime builds an :class:`IncomingCall` from the request (R-URI user,
   From, ``X-Info-*`` headers added by proxy-users / proxy-trunks, Diversion) and asks the
   dialplan for a :class:`CallScript` (``Dialplan.script(call, presence)``).
2. It runs ``script.first()`` and then, after every :class:`Dial` that did not end in an answer,
   ``script.after(outcome)``, until an action ends the call (:class:`Reject`) or a dial is
   answered (the legs are then bridged; the script is told with ``script.answered(target)`` so it
   can record what it needs, and is not asked again except for transfers).
3. A blind or attended transfer (REFER) from a bridged party asks the dialplan for a new script
   with ``Dialplan.transfer(...)``: the transferor's identity calls the Refer-To number.

Every action is a plain value: the runtime never reads the database and the dialplan never
touches a socket. A locution that IvozProvider would play at some point is carried in
``Reject.locution`` / ``Dial.locution`` (an id) and ignored until the media engine exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Origin(StrEnum):
    ENDPOINT = "endpoint"  # from proxy-users: a terminal, friend or residential device of the client
    INBOUND = "inbound"  # from proxy-trunks: an external call to one of the client's DDIs
    BOUNCED = "bounced"  # from proxy-trunks: an own DDI dialled by the platform itself


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    origin: Origin
    brand_id: int
    company_id: int
    company_type: str  # vpbx | residential | wholesale
    dialled: str  # R-URI user as received (extension, national number, E.164 DDI, *service code)
    caller: str  # X-Info-Caller, else From user
    caller_name: str | None  # From display name
    now: datetime  # call start (UTC, tz-aware): every schedule/calendar decision uses it
    headers: Mapping[str, str] = field(default_factory=dict)  # every X-Info-* header, names lower-case
    endpoint_type: str | None = None  # terminal | friend | residential (ENDPOINT origin)
    endpoint_id: int | None = None
    endpoint_name: str | None = None
    user_id: int | None = None  # owner of a terminal
    ddi_id: int | None = None  # INBOUND/BOUNCED
    ddi: str | None = None  # E.164
    ddi_provider_id: int | None = None
    diversion: tuple[str, ...] = ()  # Diversion header values already on the request


class TargetKind(StrEnum):
    ENDPOINT = "endpoint"  # sent to proxy-users: sip:<user>@<domain>, every registered contact rings
    EXTERNAL = "external"  # sent to proxy-trunks: sip:<E.164>@<trunks>, with X-Info-* context


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    ruri_user: str  # endpoint name (terminal/friend/device) or E.164 number
    domain: str | None = None  # SIP domain of an endpoint (None for EXTERNAL)
    from_user: str | None = None  # From user presented to this target (None: the caller as received)
    from_name: str | None = None  # display name presented (From and PAI)
    headers: tuple[tuple[str, str], ...] = ()  # extra headers: X-Info-* for proxy-trunks, Diversion...
    label: str = ""  # what this target is, for logs, active calls and tests ("user:3", "hg:7/member:2")
    user_id: int | None = None  # the user this target rings, if any (busy/call-waiting accounting)
    ring_timeout: float | None = None  # this branch alone is cancelled after so many seconds (hunt group member)
    # call forwards of a member inside a parallel dial (hunt groups that allow call forwards): when
    # this branch is cancelled at its ``ring_timeout`` (no answer) or fails busy (486/600), this
    # other target rings in its place, in the same dial (the other branches keep ringing)
    forward_no_answer: Target | None = None
    forward_busy: Target | None = None
    # caller identity asserted to an ENDPOINT target: the runtime adds ``P-Asserted-Identity:
    # "<from_name>" <sip:<pai_user>@<From host>>`` (None: no PAI). The dialplan sets it to the
    # presented caller (the user's extension, an external caller in the callee's format...), equal
    # to ``from_user`` except for friends with a "From user" (docs/appserver-dialplan.md §3.1)
    pai_user: str | None = None


@dataclass(frozen=True)
class Dial:
    """Ring ``targets`` in parallel; the first 2xx wins and the others are cancelled.

    ``timeout`` seconds without an answer → outcome ``no_answer`` (None = only the targets' own
    replies end the dial). ``ring_back`` = send 180 Ringing to the caller when the dial starts.
    """

    targets: tuple[Target, ...]
    timeout: float | None = None
    ring_back: bool = True
    locution: int | None = None
    # Reason header text on the CANCELs of the losing branches ("Call completed elsewhere" for hunt
    # groups that prevent missed calls, RFC 3326 cause 200); None = plain CANCEL
    cancel_reason: str | None = None


@dataclass(frozen=True)
class Reject:
    code: int  # SIP final response code sent to the caller (e.g. 403, 404, 480, 486, 603)
    reason: str  # reason phrase, human readable, says why
    locution: int | None = None


Action = Dial | Reject


class DialResult(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # Dial.timeout elapsed
    BUSY = "busy"  # 486 / 600 from a target
    UNAVAILABLE = "unavailable"  # 480/404/408/5xx or no registered contact
    REJECTED = "rejected"  # 603 Decline
    CANCELLED = "cancelled"  # the caller hung up first (the script is not asked again)


@dataclass(frozen=True)
class DialOutcome:
    result: DialResult
    code: int | None = None  # final SIP code of the best failed branch (486, 480, 603...)
    target: Target | None = None  # the branch that answered or gave ``code``
    reason: str | None = None  # reason phrase of ``code`` as received (e.g. proxy-trunks' "Forbidden: no rating plan...")


class CallScript(Protocol):
    def first(self) -> Action: ...

    def after(self, outcome: DialOutcome) -> Action: ...

    def answered(self, target: Target) -> None: ...


class Disposition(StrEnum):
    """How a call ended (call registry, spec 10.1.14)."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "noanswer"  # rang until a timeout / nobody answered
    CANCELLED = "cancelled"  # the caller hung up before an answer
    FAILED = "failed"  # rejected by the call logic, unavailable, declined, error


@dataclass(frozen=True)
class CallEnded:
    """What the runtime tells a script when its call is over (optional ``CallScript.ended``, called
    in the dialplan thread, once, after the last SIP leg of the call is gone)."""

    disposition: Disposition
    start: datetime  # the INVITE's arrival (``IncomingCall.now``)
    end: datetime
    answered_at: datetime | None = None
    answered_by: Target | None = None  # the target that was bridged last (transfers: the new party)
    code: int | None = None  # final code sent to the caller (unanswered calls)
    tried: tuple[Target, ...] = ()  # every target dialled by the call (unanswered registry rows)

    @property
    def duration(self) -> float:
        """Seconds of conversation (0 for unanswered calls)."""
        if self.answered_at is None:
            return 0.0
        return max(0.0, (self.end - self.answered_at).total_seconds())


class EndAwareScript(CallScript, Protocol):
    """A script that wants to know how its call ended (``CallEnded``)."""

    def ended(self, info: CallEnded) -> None: ...


class Presence(Protocol):
    """What the runtime knows about calls in progress (call waiting, busy, DND-free decisions).

    The standalone and recommended distribution (``hash`` by client) keeps every call of a client
    on one app server process, so the process's own count is the client's count.
    """

    def user_active_calls(self, user_id: int) -> int: ...


class Dialplan(Protocol):
    def script(self, call: IncomingCall, presence: Presence) -> CallScript: ...

    def transfer(self, call: IncomingCall, presence: Presence, transferor: Target | None,
                 refer_to: str) -> CallScript: ...


class RecoveringDialplan(Dialplan, Protocol):
    """A dialplan that can write the record of a call whose application server worker died while
    it was answered (the call journal, :mod:`polyvox.appserver.journal`): ``info`` says it was
    answered and ended at the worker's last heartbeat. Called in the dialplan thread of another
    worker; must write nothing when the call already has its records."""

    def record_lost(self, call: IncomingCall, info: CallEnded) -> None: ...
