"""Spec 10.1.5 "IVRs", "IVR Entries", "Entries are regular expressions"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.pbx import Ivr, IvrEntry, Target, evaluate_ivr_input, ivr_entry_matches

EXT_200 = Target("extension", "200")
EXT_101 = Target("extension", "101")
NUMBER = Target("number", "+34676676676")
NO_INPUT = Target("voicemail", "1")
ERROR = Target("extension", "0", locution="error-target-locution")

EXTENSIONS = {"200", "101", "300", "555"}


def company_extension(number: str) -> bool:
    return number in EXTENSIONS


def make_ivr(**kw: object) -> Ivr:
    defaults: dict[str, object] = {
        "timeout": 5,
        "max_digits": 4,
        "entries": (
            IvrEntry("1", EXT_200, locution="reception"),
            IvrEntry("2", EXT_101),
            IvrEntry("3", NUMBER),
        ),
        "success_locution": "connecting",
        "no_input_target": NO_INPUT,
        "no_input_locution": "no-input",
        "error_target": ERROR,
    }
    defaults.update(kw)
    return Ivr(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build"),
    [lambda: make_ivr(timeout=0), lambda: make_ivr(max_digits=-1)],
)
def test_10_1_5_ivr_rejects_invalid_configuration(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("pressed", "kind", "target", "locution"),
    [
        ("1", "entry", EXT_200, "reception"),  # entry locution replaces success locution
        ("2", "entry", EXT_101, "connecting"),
        ("3", "entry", NUMBER, "connecting"),
        ("4", "error", ERROR, "error-target-locution"),
        ("11", "error", ERROR, "error-target-locution"),  # numeric entries match the whole sequence
        ("", "no_input", NO_INPUT, "no-input"),
        (None, "no_input", NO_INPUT, "no-input"),
        ("200", "error", ERROR, "error-target-locution"),  # extensions not allowed
    ],
)
def test_10_1_5_ivr_entries(pressed: str | None, kind: str, target: Target, locution: str | None) -> None:
    outcome = evaluate_ivr_input(make_ivr(), pressed, company_extension)
    assert (outcome.kind, outcome.target, outcome.locution) == (kind, target, locution)


@pytest.mark.parametrize(
    ("pressed", "kind", "target"),
    [
        ("200", "extension", Target("extension", "200")),
        ("101", "extension", Target("extension", "101")),
        ("300", "error", ERROR),  # excluded extension
        ("999", "error", ERROR),  # not an extension
        ("1", "entry", EXT_200),  # entries first
        ("5555", "extension", Target("extension", "555")),  # cut at max digits (3 here)
    ],
)
def test_10_1_5_ivr_allow_dialing_extensions_and_excluded_extensions(
    pressed: str, kind: str, target: Target
) -> None:
    ivr = make_ivr(allow_extensions=True, excluded_extensions=frozenset({"300"}), max_digits=3)
    outcome = evaluate_ivr_input(ivr, pressed, company_extension)
    assert (outcome.kind, outcome.target) == (kind, target)
    if kind == "extension":
        assert outcome.locution == "connecting"


def test_10_1_5_ivr_max_digits_zero_means_no_cut() -> None:
    ivr = make_ivr(max_digits=0, allow_extensions=True)
    assert evaluate_ivr_input(ivr, "555", company_extension).kind == "extension"


@pytest.mark.parametrize(
    ("entry", "pressed", "matches"),
    [
        ("1", "1", True),
        ("1", "12", False),
        ("01", "1", False),
        ("^2[0-9]$", "25", True),
        ("^2[0-9]$", "255", False),
        ("2[0-9]", "1255", True),  # regular expressions are not anchored unless written so
        ("^(4|5)", "512", True),
        ("[", "[", False),  # invalid regex never matches
        ("*", "*", False),
    ],
)
def test_10_1_5_ivr_entries_are_regular_expressions(entry: str, pressed: str, matches: bool) -> None:
    assert ivr_entry_matches(entry, pressed) is matches


def test_10_1_5_ivr_regular_expression_entry_routes_group_of_numbers() -> None:
    ivr = make_ivr(entries=(IvrEntry("^9[0-9]{2}$", NUMBER),))
    assert evaluate_ivr_input(ivr, "912", company_extension).target == NUMBER
    assert evaluate_ivr_input(ivr, "9", company_extension).kind == "error"


def test_10_1_5_ivr_error_and_no_input_without_target_hang_up() -> None:
    ivr = make_ivr(no_input_target=None, no_input_locution=None, error_target=None, error_locution="bye")
    no_input = evaluate_ivr_input(ivr, "", company_extension)
    assert (no_input.target, no_input.locution) == (None, None)
    error = evaluate_ivr_input(ivr, "8", company_extension)
    assert (error.target, error.locution) == (None, "bye")


def test_10_1_5_ivr_first_matching_entry_wins() -> None:
    ivr = make_ivr(entries=(IvrEntry("^1", EXT_200), IvrEntry("12", EXT_101)))
    outcome = evaluate_ivr_input(ivr, "12", company_extension)
    assert outcome.entry == IvrEntry("^1", EXT_200)


@given(st.from_regex(r"[0-9]{1,6}", fullmatch=True), st.from_regex(r"[0-9]{1,6}", fullmatch=True))
def test_10_1_5_ivr_numeric_entry_is_exact_digit_sequence(entry: str, pressed: str) -> None:
    assert ivr_entry_matches(entry, pressed) is (entry == pressed)
