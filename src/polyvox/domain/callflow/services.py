"""Service codes (spec 8.5 "Services", 9.7.6 "Generic Services", 10.1.10).

Services are reached by dialling ``*`` followed by the service code, plus an
argument for some of them. The platform defines default codes; each brand
copies and may change them; vPBX clients copy the brand's vPBX services and may
change or delete them. Residential clients use the brand codes directly (all
residential clients of a brand share the call-forward codes).

Parsing (:func:`parse_service_code`): services without argument must match
exactly; services with argument match as a prefix of the dialled code, the
longest code first. A matched service with a malformed argument yields an
:class:`InvalidServiceCall`; a ``*``-number matching no service yields ``None``
(the call is declined).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_SERVICE_CODES",
    "RESIDENTIAL_SERVICES",
    "SERVICES_WITH_ARGUMENT",
    "VPBX_SERVICES",
    "CallForwardChange",
    "CallForwardOperation",
    "CallForwardType",
    "CheckVoicemail",
    "ClientType",
    "DirectPickup",
    "GroupPickup",
    "InvalidServiceCall",
    "LockOperation",
    "QueuePauseChange",
    "RecordLocution",
    "RouteLockChange",
    "Service",
    "ServiceCall",
    "effective_service_codes",
    "parse_service_code",
    "validate_service_code",
]


class Service(StrEnum):
    """Service identifiers (``Services.iden``)."""

    DIRECT_PICKUP = "DirectPickUp"
    GROUP_PICKUP = "GroupPickUp"
    VOICEMAIL = "Voicemail"
    RECORD_LOCUTION = "RecordLocution"
    CLOSE_LOCK = "CloseLock"
    OPEN_LOCK = "OpenLock"
    TOGGLE_LOCK = "ToggleLock"
    CALL_FORWARD_INCONDITIONAL = "CallForwardInconditional"
    CALL_FORWARD_BUSY = "CallForwardBusy"
    CALL_FORWARD_NO_ANSWER = "CallForwardNoAnswer"
    CALL_FORWARD_UNREACHABLE = "CallForwardUnreachable"
    QUEUE_PAUSE = "QueuePause"
    QUEUE_UNPAUSE = "QueueUnpause"


#: Platform default codes for a new brand (dialled with a leading ``*``).
DEFAULT_SERVICE_CODES: Mapping[Service, str] = {
    Service.DIRECT_PICKUP: "94",
    Service.GROUP_PICKUP: "95",
    Service.VOICEMAIL: "93",
    Service.RECORD_LOCUTION: "00",
    Service.CLOSE_LOCK: "70",
    Service.OPEN_LOCK: "71",
    Service.TOGGLE_LOCK: "72",
    Service.QUEUE_PAUSE: "73",
    Service.QUEUE_UNPAUSE: "74",
    Service.CALL_FORWARD_INCONDITIONAL: "80",
    Service.CALL_FORWARD_BUSY: "81",
    Service.CALL_FORWARD_NO_ANSWER: "82",
    Service.CALL_FORWARD_UNREACHABLE: "83",
}

#: Services whose code is followed by an argument (``extraArgs``).
SERVICES_WITH_ARGUMENT: frozenset[Service] = frozenset(
    {
        Service.DIRECT_PICKUP,
        Service.VOICEMAIL,
        Service.RECORD_LOCUTION,
        Service.CLOSE_LOCK,
        Service.OPEN_LOCK,
        Service.TOGGLE_LOCK,
        Service.CALL_FORWARD_INCONDITIONAL,
        Service.CALL_FORWARD_BUSY,
        Service.CALL_FORWARD_NO_ANSWER,
        Service.CALL_FORWARD_UNREACHABLE,
    }
)

#: Services available to vPBX clients.
VPBX_SERVICES: frozenset[Service] = frozenset(
    {
        Service.DIRECT_PICKUP,
        Service.GROUP_PICKUP,
        Service.VOICEMAIL,
        Service.RECORD_LOCUTION,
        Service.CLOSE_LOCK,
        Service.OPEN_LOCK,
        Service.TOGGLE_LOCK,
        Service.QUEUE_PAUSE,
        Service.QUEUE_UNPAUSE,
    }
)

#: Services available to residential clients (voicemail + call forwards).
RESIDENTIAL_SERVICES: frozenset[Service] = frozenset(
    {
        Service.VOICEMAIL,
        Service.CALL_FORWARD_INCONDITIONAL,
        Service.CALL_FORWARD_BUSY,
        Service.CALL_FORWARD_NO_ANSWER,
        Service.CALL_FORWARD_UNREACHABLE,
    }
)


class ClientType(StrEnum):
    VPBX = "vpbx"
    RESIDENTIAL = "residential"
    RETAIL = "retail"
    WHOLESALE = "wholesale"


_CODE_RE = re.compile(r"^[#0-9*]+$")
_DIGITS_RE = re.compile(r"^[0-9]+$")


def validate_service_code(code: str) -> str:
    """A service code is made of digits, ``*`` and ``#`` (without the leading ``*``)."""
    if _CODE_RE.fullmatch(code) is None:
        raise ValueError(f"service code must contain only digits, '*' and '#', got {code!r}")
    return code


def effective_service_codes(
    client_type: ClientType,
    brand_codes: Mapping[Service, str],
    client_codes: Mapping[Service, str | None] | None = None,
) -> dict[Service, str]:
    """Service codes usable by a client.

    ``brand_codes`` are the brand's codes (see :data:`DEFAULT_SERVICE_CODES`).
    For vPBX clients ``client_codes`` overrides them (``None`` = service deleted
    by the client admin); residential clients always use the brand codes;
    retail and wholesale clients have no services.
    """
    if client_type is ClientType.VPBX:
        available = VPBX_SERVICES
    elif client_type is ClientType.RESIDENTIAL:
        available = RESIDENTIAL_SERVICES
        client_codes = None
    else:
        return {}
    result: dict[Service, str] = {}
    for service in Service:
        if service not in available:
            continue
        code: str | None = brand_codes.get(service)
        if client_codes is not None and service in client_codes:
            code = client_codes[service]
        if code is not None:
            result[service] = validate_service_code(code)
    return result


@dataclass(frozen=True, slots=True)
class DirectPickup:
    extension: str
    service: Service = Service.DIRECT_PICKUP


@dataclass(frozen=True, slots=True)
class GroupPickup:
    service: Service = Service.GROUP_PICKUP


@dataclass(frozen=True, slots=True)
class CheckVoicemail:
    """Own voicemail (``extension`` None, no password asked) or another extension's."""

    extension: str | None = None
    service: Service = Service.VOICEMAIL


@dataclass(frozen=True, slots=True)
class RecordLocution:
    locution_id: int
    service: Service = Service.RECORD_LOCUTION


class LockOperation(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    TOGGLE = "toggle"

    def apply(self, is_open: bool) -> bool:
        """New lock state after this operation on a lock currently ``is_open``."""
        if self is LockOperation.OPEN:
            return True
        if self is LockOperation.CLOSE:
            return False
        return not is_open


@dataclass(frozen=True, slots=True)
class RouteLockChange:
    operation: LockOperation
    lock_id: int
    service: Service


class CallForwardType(StrEnum):
    """``CallForwardSettings.callForwardType`` values."""

    INCONDITIONAL = "inconditional"
    NO_ANSWER = "noAnswer"
    BUSY = "busy"
    USER_NOT_REGISTERED = "userNotRegistered"


class CallForwardOperation(StrEnum):
    ENABLE_NUMBER = "enable_number"  # create/modify forward to a national number
    ENABLE_VOICEMAIL = "enable_voicemail"  # create/modify forward to voicemail ('*')
    DISABLE = "disable"  # delete all active forwards of that type


@dataclass(frozen=True, slots=True)
class CallForwardChange:
    """Residential call-forward change. ``number`` is national (client's country)."""

    forward_type: CallForwardType
    operation: CallForwardOperation
    service: Service
    number: str | None = None


@dataclass(frozen=True, slots=True)
class QueuePauseChange:
    pause: bool
    service: Service


@dataclass(frozen=True, slots=True)
class InvalidServiceCall:
    """A service code matched but its argument is missing or malformed."""

    service: Service
    argument: str
    reason: str


ServiceCall = (
    DirectPickup
    | GroupPickup
    | CheckVoicemail
    | RecordLocution
    | RouteLockChange
    | CallForwardChange
    | QueuePauseChange
    | InvalidServiceCall
)

_LOCK_OPERATIONS: Mapping[Service, LockOperation] = {
    Service.OPEN_LOCK: LockOperation.OPEN,
    Service.CLOSE_LOCK: LockOperation.CLOSE,
    Service.TOGGLE_LOCK: LockOperation.TOGGLE,
}

_FORWARD_TYPES: Mapping[Service, CallForwardType] = {
    Service.CALL_FORWARD_INCONDITIONAL: CallForwardType.INCONDITIONAL,
    Service.CALL_FORWARD_BUSY: CallForwardType.BUSY,
    Service.CALL_FORWARD_NO_ANSWER: CallForwardType.NO_ANSWER,
    Service.CALL_FORWARD_UNREACHABLE: CallForwardType.USER_NOT_REGISTERED,
}


def _digits(service: Service, argument: str, what: str) -> InvalidServiceCall | None:
    if _DIGITS_RE.fullmatch(argument) is None:
        detail = "missing" if not argument else "must be digits"
        return InvalidServiceCall(service, argument, f"{what} {detail}")
    return None


def _build(service: Service, argument: str) -> ServiceCall:
    if service is Service.GROUP_PICKUP:
        return GroupPickup()
    if service in (Service.QUEUE_PAUSE, Service.QUEUE_UNPAUSE):
        return QueuePauseChange(service is Service.QUEUE_PAUSE, service)
    if service is Service.VOICEMAIL:
        if not argument:
            return CheckVoicemail()
        return _digits(service, argument, "extension") or CheckVoicemail(argument)
    if service is Service.DIRECT_PICKUP:
        return _digits(service, argument, "extension") or DirectPickup(argument)
    if service is Service.RECORD_LOCUTION:
        return _digits(service, argument, "locution id") or RecordLocution(int(argument))
    if service in _LOCK_OPERATIONS:
        return _digits(service, argument, "route lock id") or RouteLockChange(
            _LOCK_OPERATIONS[service], int(argument), service
        )
    forward_type = _FORWARD_TYPES[service]
    if not argument:
        return CallForwardChange(forward_type, CallForwardOperation.DISABLE, service)
    if argument == "*":
        return CallForwardChange(forward_type, CallForwardOperation.ENABLE_VOICEMAIL, service)
    return _digits(service, argument, "national number") or CallForwardChange(
        forward_type, CallForwardOperation.ENABLE_NUMBER, service, argument
    )


def parse_service_code(dialled: str, codes: Mapping[Service, str]) -> ServiceCall | None:
    """Interpret a dialled ``*``-number with the client's effective ``codes``.

    Returns ``None`` when ``dialled`` does not start with ``*`` or matches no
    service code.
    """
    if not dialled.startswith("*"):
        return None
    body = dialled[1:]
    codes = {service: code for service, code in codes.items() if code}
    for service, code in codes.items():
        if service not in SERVICES_WITH_ARGUMENT and body == code:
            return _build(service, "")
    with_argument = sorted(
        ((service, code) for service, code in codes.items() if service in SERVICES_WITH_ARGUMENT),
        key=lambda item: -len(item[1]),
    )
    for service, code in with_argument:
        if body.startswith(code):
            return _build(service, body[len(code) :])
    return None
