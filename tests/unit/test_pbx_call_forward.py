"""Spec 10.1.1 Users (Basic configuration, Boss-Assistant, "User Call Forward"),
10.1.5 "Friend Call Forward", 10.3.1 retail call forwards, 4.4 Final user role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.pbx import (
    AnsweredCall,
    CallForwardSetting,
    EndpointPresence,
    ForwardCall,
    FriendProfile,
    HangupCall,
    IncomingCall,
    RingEndpoint,
    RouteToAssistant,
    SignalBusy,
    SignalUnavailable,
    Target,
    UserProfile,
    applicable_forward,
    can_call_boss,
    contacts_to_ring,
    decide_friend_call,
    decide_user_call,
    exceeds_call_waiting,
    forward_number,
    friend_dial_result,
    pick_forward,
    reject_scope,
    user_dial_result,
)
from polyvox.domain.pbx.common import CallType, DialOutcome

VM = Target("voicemail", "10")
MOBILE = Target("number", "+34600000000")
EXT = Target("extension", "201")

CFU = CallForwardSetting("inconditional", MOBILE, setting_id=1)
CFB = CallForwardSetting("busy", VM, setting_id=2)
CFNA = CallForwardSetting("noAnswer", EXT, no_answer_timeout=20, setting_id=3)
CFNR = CallForwardSetting("userNotRegistered", VM, setting_id=4)

INTERNAL = IncomingCall("internal", "102", caller_user_id=2)
EXTERNAL = IncomingCall("external", "+34944000000")
ONLINE = EndpointPresence(registered=True, active_calls=0)


def decide(presence: EndpointPresence = ONLINE, call: IncomingCall = INTERNAL, **kw: object) -> object:
    return decide_user_call(UserProfile(1, **kw), presence, call)  # type: ignore[arg-type]


# --- call type filter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_filter", "enabled", "call_type", "applies"),
    [
        ("both", True, "internal", True),
        ("both", True, "external", True),
        ("any", True, "external", True),
        ("internal", True, "internal", True),
        ("internal", True, "external", False),
        ("external", True, "external", True),
        ("external", True, "internal", False),
        ("both", False, "internal", False),
    ],
)
def test_10_1_1_user_call_forward_call_type(
    call_filter: str, enabled: bool, call_type: CallType, applies: bool
) -> None:
    setting = CallForwardSetting("inconditional", VM, call_type_filter=call_filter, enabled=enabled)  # type: ignore[arg-type]
    assert setting.applies_to(call_type) is applies
    assert (applicable_forward([setting], "inconditional", call_type) is setting) is applies


def test_10_1_1_user_call_forward_first_applicable_setting_wins() -> None:
    internal_only = CallForwardSetting("inconditional", EXT, call_type_filter="internal")
    external_only = CallForwardSetting("inconditional", MOBILE, call_type_filter="external")
    both = CallForwardSetting("inconditional", VM)
    assert (
        applicable_forward([internal_only, external_only, both], "inconditional", "external") is external_only
    )
    assert applicable_forward([CFB, internal_only], "inconditional", "external") is None


# --- before dialling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "profile", "presence", "expected"),
    [
        (
            "unconditional always",
            {"call_forwards": (CFU, CFB), "do_not_disturb": True},
            ONLINE,
            ForwardCall(CFU, "cfu"),
        ),
        (
            "unconditional even when not registered",
            {"call_forwards": (CFU, CFNR)},
            EndpointPresence(False),
            ForwardCall(CFU, "cfu"),
        ),
        ("DND is busy", {"do_not_disturb": True}, ONLINE, SignalBusy("dnd")),
        (
            "DND uses busy forward",
            {"do_not_disturb": True, "call_forwards": (CFB,)},
            ONLINE,
            ForwardCall(CFB, "cfb"),
        ),
        ("not registered", {}, EndpointPresence(False), SignalUnavailable("not_registered")),
        (
            "not registered forward",
            {"call_forwards": (CFNR,)},
            EndpointPresence(False),
            ForwardCall(CFNR, "unavailable"),
        ),
        ("no terminal", {"has_terminal": False}, ONLINE, SignalUnavailable("no_terminal")),
        (
            "no terminal forward",
            {"has_terminal": False, "call_forwards": (CFNR,)},
            ONLINE,
            ForwardCall(CFNR, "unavailable"),
        ),
        ("call waiting limit", {"max_calls": 1}, EndpointPresence(True, 1), SignalBusy("call_waiting")),
        (
            "call waiting forward",
            {"max_calls": 2, "call_forwards": (CFB,)},
            EndpointPresence(True, 2),
            ForwardCall(CFB, "cfb"),
        ),
        (
            "call waiting below limit",
            {"max_calls": 2},
            EndpointPresence(True, 1),
            RingEndpoint(None, False, "rfc", True),
        ),
        (
            "call waiting unlimited",
            {"max_calls": 0},
            EndpointPresence(True, 9),
            RingEndpoint(None, False, "rfc", True),
        ),
        (
            "ring with no-answer timeout",
            {"call_forwards": (CFNA, CFB), "reject_call_method": "600", "multi_contact": False},
            ONLINE,
            RingEndpoint(20, True, "600", False),
        ),
        (
            "ring, status needed for busy",
            {"call_forwards": (CFB,)},
            ONLINE,
            RingEndpoint(None, True, "rfc", True),
        ),
        (
            "disabled forwards ignored",
            {"call_forwards": (CallForwardSetting("inconditional", VM, enabled=False),)},
            ONLINE,
            RingEndpoint(None, False, "rfc", True),
        ),
    ],
)
def test_10_1_1_user_call_forward_decision(
    name: str, profile: dict[str, object], presence: EndpointPresence, expected: object
) -> None:
    assert decide(presence, INTERNAL, **profile) == expected, name


def test_10_1_1_user_call_forward_external_only_setting_ignored_for_internal_calls() -> None:
    external_cfu = CallForwardSetting("inconditional", MOBILE, call_type_filter="external")
    assert decide(call=EXTERNAL, call_forwards=(external_cfu,)) == ForwardCall(external_cfu, "cfu")
    assert isinstance(decide(call=INTERNAL, call_forwards=(external_cfu,)), RingEndpoint)


def test_10_1_1_user_call_forward_target_exposed() -> None:
    decision = decide(call_forwards=(CFU,))
    assert isinstance(decision, ForwardCall)
    assert decision.target == MOBILE


# --- boss-assistant --------------------------------------------------------------------------


def whitelist(number: str) -> bool:
    return number.startswith("+3494")


BOSS = {"is_boss": True, "assistant_id": 2, "assistant_extension": "102", "boss_whitelist": whitelist}


@pytest.mark.parametrize(
    ("call", "profile", "to_assistant"),
    [
        (IncomingCall("internal", "103", caller_user_id=3), BOSS, True),
        (IncomingCall("internal", "102", caller_user_id=2), BOSS, False),  # the assistant itself
        (IncomingCall("internal", "102"), BOSS, False),  # assistant identified by extension
        (IncomingCall("external", "+34944000000"), BOSS, False),  # whitelisted origin
        (IncomingCall("external", "+34600111222"), BOSS, True),
        (IncomingCall("external", "+34944000000"), {**BOSS, "boss_whitelist": None}, True),
        (IncomingCall("internal", "103"), {**BOSS, "assistant_extension": None}, True),
        (IncomingCall("internal", "103"), {**BOSS, "is_boss": False}, False),
        (IncomingCall("internal", "103"), {**BOSS, "assistant_id": None}, False),  # boss without assistant
    ],
)
def test_10_1_1_boss_assistant(call: IncomingCall, profile: dict[str, object], to_assistant: bool) -> None:
    decision = decide(ONLINE, call, **profile)
    assert (decision == RouteToAssistant(2)) is to_assistant
    if not to_assistant:
        assert isinstance(decision, RingEndpoint)


def test_10_1_1_boss_assistant_after_unconditional_forward_and_dnd() -> None:
    stranger = IncomingCall("internal", "103", caller_user_id=3)
    assert decide(ONLINE, stranger, call_forwards=(CFU,), **BOSS) == ForwardCall(CFU, "cfu")
    assert decide(ONLINE, stranger, do_not_disturb=True, **BOSS) == SignalBusy("dnd")
    assert can_call_boss(UserProfile(1, **BOSS), INTERNAL)  # type: ignore[arg-type]


# --- after dialling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "forwards", "expected"),
    [
        ("answer", (CFNA, CFB, CFNR), AnsweredCall()),
        ("cancel", (CFNA,), HangupCall("cancel")),
        ("noanswer", (CFNA,), ForwardCall(CFNA, "cfnr")),
        ("noanswer", (), HangupCall("noanswer")),
        ("busy", (CFB,), ForwardCall(CFB, "cfb")),
        ("busy", (), SignalBusy("busy")),
        ("rejected", (CFB,), ForwardCall(CFB, "cfb")),  # a rejected call is busy
        ("rejected", (), SignalBusy("rejected")),
        ("unavailable", (CFNR,), ForwardCall(CFNR, "unavailable")),
        ("unavailable", (), SignalUnavailable("not_registered")),
    ],
)
def test_10_1_1_user_call_forward_after_dial(
    outcome: DialOutcome, forwards: tuple[CallForwardSetting, ...], expected: object
) -> None:
    assert user_dial_result(UserProfile(1, call_forwards=forwards), INTERNAL, outcome) == expected
    assert friend_dial_result(FriendProfile(9, call_forwards=forwards), INTERNAL, outcome) == expected


# --- friends ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forwards", "presence", "expected"),
    [
        ((CFU, CFNR), EndpointPresence(False), ForwardCall(CFU, "cfu")),
        ((CFNR,), EndpointPresence(False), ForwardCall(CFNR, "unavailable")),
        ((), EndpointPresence(False), SignalUnavailable("not_registered")),
        ((CFNA,), ONLINE, RingEndpoint(20, True, "rfc", True)),
        ((), EndpointPresence(True, 50), RingEndpoint(None, False, "rfc", True)),
    ],
)
def test_10_1_5_friend_call_forward(
    forwards: tuple[CallForwardSetting, ...], presence: EndpointPresence, expected: object
) -> None:
    assert decide_friend_call(FriendProfile(9, call_forwards=forwards), presence, EXTERNAL) == expected


# --- basic configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "code", "scope"),
    [
        ("rfc", 600, "all_devices"),
        ("rfc", 603, "all_devices"),
        ("rfc", 486, "this_device"),
        ("rfc", 480, "this_device"),
        ("486", 603, "this_device"),
        ("486", 486, "this_device"),
        ("600", 486, "all_devices"),
        ("600", 600, "all_devices"),
    ],
)
def test_10_1_1_call_rejection_method(method: str, code: int, scope: str) -> None:
    assert reject_scope(method, code) == scope  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contacts", "multi", "expected"),
    [
        ([("sip:a", 1.0), ("sip:b", 3.0), ("sip:c", 2.0)], True, ("sip:a", "sip:b", "sip:c")),
        ([("sip:a", 1.0), ("sip:b", 3.0), ("sip:c", 2.0)], False, ("sip:b",)),
        ([("sip:a", 1.0), ("sip:b", 1.0)], False, ("sip:b",)),
        ([], False, ()),
    ],
)
def test_10_1_1_multi_contact(
    contacts: list[tuple[str, float]], multi: bool, expected: tuple[str, ...]
) -> None:
    assert contacts_to_ring(contacts, multi) == expected


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=50))
def test_4_4_call_waiting_limit(active: int, limit: int) -> None:
    busy = exceeds_call_waiting(active, limit)
    assert busy is (limit != 0 and active >= limit)
    decision = decide(EndpointPresence(True, active), INTERNAL, max_calls=limit)
    assert (decision == SignalBusy("call_waiting")) is busy


# ------------------------------------------------------- retail/residential forwards (10.3.1)


@dataclass(frozen=True)
class _Fwd:
    id: int
    type: str
    ddi_id: int | None


def test_10_3_1_forward_for_the_called_ddi_wins() -> None:
    anyddi, per_ddi, unreach = _Fwd(1, "inconditional", None), _Fwd(2, "inconditional", 55), _Fwd(3, "unreachable", None)
    fwds = (anyddi, per_ddi, unreach, _Fwd(4, "inconditional", None))
    assert pick_forward(fwds, "inconditional", 55) is per_ddi
    assert pick_forward(fwds, "inconditional", 56) is anyddi  # the first for any DDI
    assert pick_forward(fwds, "inconditional", None) is anyddi
    assert pick_forward(fwds, "unreachable", 55) is unreach
    assert pick_forward((per_ddi,), "inconditional", None) is None
    assert pick_forward((), "unreachable", 55) is None


@pytest.mark.parametrize(("number", "country", "expected"), [
    ("600111222", "+34", "+34600111222"),
    ("600111222", "34", "+34600111222"),  # calling code stored without +
    ("600 111-222", "+34", "+34600111222"),  # separators dropped
    ("+44201234567", "+34", "+44201234567"),  # international: the country is ignored
    ("0044 20 1234", "", "+44201234"),
    ("600111222", "", "+600111222"),  # no country: read as international
    ("", "+34", ""),
    (None, "+34", ""),
    ("abc", "+34", ""),
])
def test_10_3_1_forward_target_number(number: str | None, country: str, expected: str) -> None:
    assert forward_number(number, country) == expected
