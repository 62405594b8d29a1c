"""Route targets shared by the call-flow engines."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ForwardKind", "ForwardTarget", "Route"]


class ForwardKind(StrEnum):
    """Where an external call filter, holiday or calendar period sends a call."""

    NUMBER = "number"
    EXTENSION = "extension"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, slots=True)
class ForwardTarget:
    """A forward destination.

    ``value`` is the E.164 number (``number``), the internal extension number
    (``extension``) or the voicemail identifier (``voicemail``).
    """

    kind: ForwardKind
    value: str

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError(f"{self.kind.value} forward target needs a value")

    @classmethod
    def number(cls, e164: str) -> ForwardTarget:
        return cls(ForwardKind.NUMBER, e164)

    @classmethod
    def extension(cls, extension: str) -> ForwardTarget:
        return cls(ForwardKind.EXTENSION, extension)

    @classmethod
    def voicemail(cls, voicemail: str | int) -> ForwardTarget:
        return cls(ForwardKind.VOICEMAIL, str(voicemail))


@dataclass(frozen=True, slots=True)
class Route:
    """A generic routing destination (conditional routes and their conditions).

    ``route_type`` is one of the IvozProvider route types (``user``, ``number``,
    ``ivr``, ``huntGroup``, ``voicemail``, ``friend``, ``queue``,
    ``conferenceRoom``, ``extension``, ``locution``...); ``target`` identifies the
    object (id, number or friend value). ``locution_id`` is played before routing.
    The engine never interprets these values.
    """

    route_type: str
    target: str | int | None = None
    locution_id: int | None = None
