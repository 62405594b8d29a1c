"""Match lists — spec 10.1.6 "Match Lists" / 9.7.7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    MatchList,
    MatchListPattern,
    PatternType,
    any_list_matches,
    validate_match_regexp,
)

e164 = st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True)

SPANISH = MatchList("spain", (MatchListPattern.regexp(r"^\+34"),))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+34944000000", True),
        ("+34600111222", True),
        ("+33144000000", False),
        ("+4934000000", False),  # "34" not at the start
    ],
)
def test_10_1_6_match_list_spanish_regexp(number: str, expected: bool) -> None:
    assert SPANISH.matches(number) is expected


def test_10_1_6_match_list_regexp_is_searched_not_anchored() -> None:
    ml = MatchList("mobiles", (MatchListPattern.regexp(r"\+346"),))
    assert ml.matches("+34600000000")
    assert not ml.matches("+34900000000")


def test_10_1_6_match_list_number_exact() -> None:
    ml = MatchList("vip", (MatchListPattern.number("+34944000001"),), id=4)
    assert ml.matches("+34944000001")
    assert not ml.matches("+349440000012")
    assert not ml.matches("34944000001")


def test_10_1_6_match_list_mixed_entries_or() -> None:
    ml = MatchList(
        "mixed",
        (MatchListPattern.number("+15551234567"), MatchListPattern.regexp(r"^\+44")),
    )
    assert ml.matches("+15551234567")
    assert ml.matches("+442071234567")
    assert not ml.matches("+15551234568")


def test_10_1_6_empty_match_list_matches_nothing() -> None:
    assert not MatchList("empty").matches("+34944000000")


def test_10_1_6_any_list_matches() -> None:
    other = MatchList("fr", (MatchListPattern.regexp(r"^\+33"),))
    assert any_list_matches((other, SPANISH), "+34944000000")
    assert not any_list_matches((other,), "+34944000000")
    assert not any_list_matches((), "+34944000000")


@pytest.mark.parametrize("bad", ["^+34", "+34", "(+34)", "[0-9", ""])
def test_10_1_6_match_list_regexp_validation_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_match_regexp(bad)
    with pytest.raises(ValueError):
        MatchListPattern.regexp(bad)


def test_10_1_6_unescaped_plus_error_has_hint() -> None:
    with pytest.raises(ValueError, match=r"escaped"):
        validate_match_regexp("^+34")


def test_10_1_6_regexp_error_without_plus_has_no_hint() -> None:
    with pytest.raises(ValueError) as info:
        validate_match_regexp("[0-9")
    assert "escaped" not in str(info.value)


@pytest.mark.parametrize("good", [r"^\+34", r"^\+34[0-9]+$", r"^\+(33|34)6"])
def test_10_1_6_match_list_regexp_validation_accepts(good: str) -> None:
    assert validate_match_regexp(good) == good


@pytest.mark.parametrize("bad", ["34944000000", "+", "+34 944", "0034944000000"])
def test_10_1_6_match_list_number_must_be_e164(bad: str) -> None:
    with pytest.raises(ValueError):
        MatchListPattern.number(bad)


def test_pattern_type_values() -> None:
    assert MatchListPattern.number("+1555").type is PatternType.NUMBER
    assert PatternType("regexp") is PatternType.REGEXP


@given(e164)
def test_property_number_pattern_matches_only_itself(number: str) -> None:
    pattern = MatchListPattern.number(number)
    assert pattern.matches(number)
    assert not pattern.matches(number + "0")


@given(e164)
def test_property_escaped_number_regexp_equals_number_pattern(number: str) -> None:
    regexp = MatchListPattern.regexp("^" + number.replace("+", r"\+") + "$")
    assert regexp.matches(number)
    assert regexp.matches(number) == MatchListPattern.number(number).matches(number)
