"""The application server's own view of SIP legs and their events.

The call logic (:mod:`polyvox.appserver.runtime.executor`) only sees these classes; the SIP
stack behind them (today sippy, :mod:`polyvox.appserver.runtime.sippy_stack`) can be replaced
without touching it. Everything here lives on the asyncio side: a leg's methods may be called
from the event loop's thread only, and its events are delivered there.

SDP bodies are plain strings: the application server passes them through (it offers no media of
its own yet).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class InviteInfo:
    """What the runtime needs from an initial INVITE."""

    call_id: str
    source: tuple[str, int]  # ip, port the request came from
    ruri_user: str
    ruri_host: str
    from_user: str
    from_host: str
    from_name: str | None
    sdp: str | None
    headers: Mapping[str, str] = field(default_factory=dict)  # every header, names lower-case (first value)
    diversion: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Progress:
    """1xx (not 100) from a UAC leg; ``sdp`` = early media."""

    code: int
    reason: str
    sdp: str | None = None


@dataclass(frozen=True)
class Answered:
    sdp: str | None


@dataclass(frozen=True)
class Failed:
    """Final non-2xx of a UAC leg (or a local timeout / transport error)."""

    code: int
    reason: str


@dataclass(frozen=True)
class Ended:
    """The other side hung up: BYE on a confirmed leg, CANCEL on a ringing incoming leg."""

    by_remote: bool = True


@dataclass(frozen=True)
class Reinvite:
    """A re-INVITE arrived on a confirmed leg; answer with ``accept_reinvite``/``reject_reinvite``."""

    sdp: str | None


@dataclass(frozen=True)
class ReinviteDone:
    """Reply to a re-INVITE this side sent (``Leg.reinvite``): code 2xx with SDP, or a failure."""

    code: int
    reason: str
    sdp: str | None = None


@dataclass(frozen=True)
class Info:
    """In-dialog INFO (already answered 200), e.g. ``application/dtmf-relay`` keys."""

    content_type: str | None
    body: str | None


@dataclass(frozen=True)
class Acked:
    """ACK of an incoming leg's 2xx carrying SDP: the answer to an offer made in the 2xx (the
    caller sent its INVITE without SDP, "late offer")."""

    sdp: str


@dataclass(frozen=True)
class Refer:
    """REFER on a confirmed leg (already answered 202). ``target_user`` is the Refer-To user part;
    ``replaces`` the Replaces parameter of an attended transfer (``callid;to-tag=..;from-tag=..``)."""

    refer_to: str
    target_user: str
    replaces: str | None = None


LegEvent = Progress | Answered | Failed | Ended | Reinvite | ReinviteDone | Refer | Acked | Info
EventHandler = Callable[["Leg", LegEvent], None]


@dataclass(frozen=True)
class OutgoingCall:
    """Everything a UAC leg needs to send its INVITE."""

    next_hop: tuple[str, int]
    ruri_user: str
    ruri_host: str  # host of the R-URI (and To): a SIP domain or the next hop's "host:port"
    from_user: str
    from_host: str
    from_name: str | None = None
    sdp: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    no_reply_timeout: float | None = None  # seconds without any reply → Failed(408)


class Leg(Protocol):
    call_id: str
    label: str

    def set_handler(self, handler: EventHandler) -> None: ...

    # incoming (UAS) side
    def progress(self, code: int, reason: str, sdp: str | None = None) -> None: ...

    def answer(self, sdp: str | None) -> None: ...

    def reject(self, code: int, reason: str) -> None: ...

    # both
    def hangup(self, reason: str | None = None) -> None:
        """BYE when confirmed, CANCEL when ringing (UAC), 487-style failure when unanswered (UAS).
        ``reason``: RFC 3326 Reason header value on the CANCEL of a ringing UAC leg."""

    def reinvite(self, sdp: str | None) -> None: ...

    def ack(self, sdp: str) -> None:
        """UAC leg answered with an offer in its 2xx (we sent no SDP): ACK it with ``sdp``."""

    def accept_reinvite(self, sdp: str | None) -> None: ...

    def reject_reinvite(self, code: int, reason: str) -> None: ...

    def info(self, content_type: str | None, body: str | None) -> None:
        """INFO on a confirmed leg."""

    def notify_refer(self, code: int, reason: str, final: bool) -> None:
        """NOTIFY (Event: refer, message/sipfrag ``SIP/2.0 <code> <reason>``) to a transferor."""

    @property
    def remote_sdp(self) -> str | None: ...


IncomingHandler = Callable[[Leg, InviteInfo], None]


class SipStack(Protocol):
    def start(self, on_incoming: IncomingHandler) -> None: ...

    def stop(self) -> None: ...

    def call(self, out: OutgoingCall, handler: EventHandler, label: str = "") -> Leg: ...
