"""Numeric transformations (IvozProvider 9.7.3 / 6.1, internals §6)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyvox.domain import numbering as nb
from polyvox.domain.numbering import RuleSet, TransformationRule

# ----------------------------------------------------------------------- E.164


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+34911234567", True),
        ("+12", True),
        ("+123456789012345", True),
        ("+1234567890123456", False),  # 16 digits
        ("+0123", False),
        ("34911234567", False),
        ("+34 911", False),
        ("+", False),
        ("+3491123456a", False),
        ("+٣٤٩", False),  # non-ASCII digits
    ],
)
def test_is_e164(number: str, expected: bool) -> None:
    assert nb.is_e164(number) is expected


def test_clean_number_drops_visual_separators() -> None:
    assert nb.clean_number(" +34 (91) 123-45.67/8 ") == "+349112345678"


@pytest.mark.parametrize(
    ("raw", "expected"), [("+34", "+34"), ("34", "+34"), (" 1 ", "+1"), ("+351", "+351")]
)
def test_normalize_country_code(raw: str, expected: str) -> None:
    assert nb.normalize_country_code(raw) == expected


@pytest.mark.parametrize("raw", ["", "+", "0034", "+0", "+1234", "ES"])
def test_normalize_country_code_rejects_garbage(raw: str) -> None:
    with pytest.raises(ValueError, match="country calling code"):
        nb.normalize_country_code(raw)


def test_normalize_spain() -> None:
    assert nb.normalize("91 123 45 67", "+34") == "+34911234567"
    assert nb.normalize("0033 1 23 45 67 89", "34") == "+33123456789"
    assert nb.normalize("+33123456789", "+34") == "+33123456789"


def test_normalize_uk_with_trunk_prefix_and_area() -> None:
    kwargs: dict[str, Any] = {"trunk_prefix": "0", "area_code": "20", "national_len": 10}
    assert nb.normalize("020 7123 4567", "+44", **kwargs) == "+442071234567"
    assert nb.normalize("7123 4567", "+44", **kwargs) == "+442071234567"
    assert nb.normalize("0161 123 4567", "+44", **kwargs) == "+441611234567"


@pytest.mark.parametrize("raw", ["", "abc", "+", "12a"])
def test_normalize_rejects_non_numbers(raw: str) -> None:
    with pytest.raises(ValueError, match="cannot normalise"):
        nb.normalize(raw, "+34")


# ---------------------------------------------------------- 9.7.3 Spain example

SPAIN = {
    "international_code": "00",
    "country_code": "+34",
    "trunk_prefix": "",
    "area_code": "",
    "national_len": 9,
}
UK = {
    "international_code": "00",
    "country_code": "+44",
    "trunk_prefix": "0",
    "area_code": "20",
    "national_len": 10,
}


def _rows(rules: tuple[TransformationRule, ...], kind: str) -> list[tuple[int, str, str]]:
    return [(r.priority, r.match_expr, r.replace_expr) for r in rules if r.type == kind]


def test_9_7_3_spain_example_generates_8_rules() -> None:
    rules = nb.generate_rules(**SPAIN)
    assert len(rules) == 8
    for kind in ("callerin", "calleein"):
        assert _rows(rules, kind) == [(1, r"^(\+|00)([0-9]+)$", r"+\2"), (5, r"^([0-9]+)$", r"+34\1")]
    for kind in ("callerout", "calleeout"):
        assert _rows(rules, kind) == [(3, r"^\+34([0-9]+)$", r"\1"), (4, r"^\+([0-9]+)$", r"00\1")]
    assert {r.description for r in rules} == {
        "From international to e164",
        "From national to e164",
        "From e164 to special national",
        "From e164 to international",
    }
    assert nb.validate_rules(rules) == {}


@pytest.mark.parametrize(
    ("dialled", "e164"),
    [
        ("911234567", "+34911234567"),  # spanish number: neither international nor calling code
        ("0033123456789", "+33123456789"),  # 00 + 33 + number belonging to France
        ("+33123456789", "+33123456789"),
        ("112", "+34112"),
    ],
)
@pytest.mark.parametrize("kind", ["callerin", "calleein"])
def test_9_7_3_spanish_incoming_transformation(kind: nb.RuleKind, dialled: str, e164: str) -> None:
    assert nb.apply(nb.generate_rules(**SPAIN), kind, dialled) == e164


@pytest.mark.parametrize(
    ("e164", "sent"),
    [
        ("+34911234567", "911234567"),  # spanish provider: calling code removed
        ("+33123456789", "0033123456789"),  # not spanish: international code + calling code
    ],
)
@pytest.mark.parametrize("kind", ["callerout", "calleeout"])
def test_9_7_3_spanish_outgoing_transformation(kind: nb.RuleKind, e164: str, sent: str) -> None:
    assert nb.apply(nb.generate_rules(**SPAIN), kind, e164) == sent


def test_9_7_3_french_provider_example() -> None:
    """A French provider gets +34911234567 as 0034911234567."""
    french = RuleSet(nb.generate_rules(international_code="00", country_code="+33", trunk_prefix="0"))
    assert french.apply("calleeout", "+34911234567") == "0034911234567"


def test_9_7_3_ukrainian_provider_international_code_810() -> None:
    ua = RuleSet(nb.generate_rules(international_code="810", country_code="+380", national_len=9))
    assert ua.apply("calleein", "81033123456789") == "+33123456789"
    assert ua.apply("calleeout", "+33123456789") == "81033123456789"


# ------------------------------------------------ internals §6: UK derived example


def test_internals_6_uk_derived_example_ivozprovider_rows() -> None:
    rules = nb.generate_rules(**UK, readd_trunk_prefix=False)
    assert len(rules) == 16
    in_rows = [
        (1, r"^(\+|00)([0-9]+)$", r"+\2"),
        (2, r"^0([0-9]{10})$", r"+44\1"),
        (3, r"^([0-9]{8})$", r"+4420\1"),
        (5, r"^([0-9]+)$", r"+44\1"),
    ]
    out_rows = [
        (1, r"^\+4420([0-9]{8})$", r"\1"),
        (2, r"^\+44([0-9]{10})$", r"\1"),
        (3, r"^\+44([0-9]+)$", r"\1"),
        (4, r"^\+([0-9]+)$", r"00\1"),
    ]
    for kind in ("callerin", "calleein"):
        assert _rows(rules, kind) == in_rows
    for kind in ("callerout", "calleeout"):
        assert _rows(rules, kind) == out_rows


def test_uk_default_generator_readds_trunk_prefix_on_the_way_out() -> None:
    rules = RuleSet(nb.generate_rules(**UK))
    assert _rows(rules.rules, "calleeout")[1] == (2, r"^\+44([0-9]{10})$", r"0\1")
    assert rules.apply("calleeout", "+441611234567") == "01611234567"  # out of area: dialable national
    assert rules.apply("calleeout", "+442071234567") == "71234567"  # within area
    assert rules.apply("calleeout", "+44999") == "999"  # short code: no trunk prefix
    assert rules.apply("calleeout", "+33123456789") == "0033123456789"
    # IvozProvider's rows lose the trunk prefix: "1611234567" is not dialable in the UK.
    ivoz = RuleSet(nb.generate_rules(**UK, readd_trunk_prefix=False))
    assert ivoz.apply("calleeout", "+441611234567") == "1611234567"


def test_generator_only_area_code() -> None:
    rules = nb.generate_rules(international_code="00", country_code="+34", area_code="91", national_len=9)
    assert len(rules) == 12
    rs = RuleSet(rules)
    assert rs.apply("calleein", "1234567") == "+34911234567"
    assert rs.apply("calleeout", "+34911234567") == "1234567"
    assert rs.apply("calleeout", "+34931234567") == "931234567"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"international_code": ""}, "international code"),
        ({"international_code": "0a"}, "international code"),
        ({"country_code": "x"}, "country calling code"),
        ({"trunk_prefix": "0+"}, "trunk prefix"),
        ({"area_code": "2a"}, "area code"),
        ({"national_len": 0}, "national number length"),
        ({"national_len": 16}, "national number length"),
        ({"area_code": "123456789", "national_len": 9}, "shorter than the national"),
    ],
)
def test_generator_rejects_bad_geographic_configuration(kwargs: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = dict(SPAIN)
    params.update(kwargs)
    with pytest.raises(ValueError, match=message):
        nb.generate_rules(**params)


# ------------------------------------------------------ round-trip property test

# (international code, country code, trunk prefix, area code, national length, first NSN digits)
_CONFIGS = [
    ("00", "+34", "", "", 9, "6789"),
    ("00", "+44", "0", "", 10, "123456789"),
    ("00", "+44", "0", "20", 10, "123456789"),
    ("00", "+33", "0", "", 9, "123456789"),
    ("011", "+1", "1", "", 10, "23456789"),
    ("810", "+7", "8", "", 10, "345679"),
    ("00", "+39", "", "", 10, "0123"),  # Italy: national numbers may start with 0, no trunk prefix
]
_OTHER_CODES = ["1", "7", "33", "34", "39", "44", "49", "81", "86", "351", "380", "420"]


@st.composite
def _case(draw: st.DrawFn) -> tuple[tuple[str, str, str, str, int, str], str, str]:
    config = draw(st.sampled_from(_CONFIGS))
    _ic, cc, _tp, area, national_len, first_digits = config
    first = draw(st.sampled_from(first_digits))
    nsn = first + draw(st.text("0123456789", min_size=national_len - 1, max_size=national_len - 1))
    if nsn.startswith("00"):  # Italy: national numbers never start with the international code
        nsn = "01" + nsn[2:]
    if area and (draw(st.booleans()) or nsn.startswith(area)):  # a number of the configured area
        nsn = area + first + nsn[len(area) + 1 :]  # subscriber numbers start like national ones
    other = draw(
        st.sampled_from(
            [c for c in _OTHER_CODES if not ("+" + c).startswith(cc) and not cc.startswith("+" + c)]
        )
    )
    foreign = "+" + other + draw(st.text("0123456789", min_size=6, max_size=11))
    return config, nsn, foreign


@settings(max_examples=300, deadline=None)
@given(_case())
def test_round_trip_in_then_out_gives_dialable_form(
    case: tuple[tuple[str, str, str, str, int, str], str, str],
) -> None:
    (ic, cc, tp, area, national_len, _), nsn, foreign = case
    rules = RuleSet(
        nb.generate_rules(
            international_code=ic, country_code=cc, trunk_prefix=tp, area_code=area, national_len=national_len
        )
    )
    domestic = cc + nsn
    dialled_forms = [domestic, ic + domestic[1:], nsn if not tp else tp + nsn]
    if area and nsn.startswith(area):
        dialled_forms.append(nsn[len(area) :])  # local dialling within the area
    for dialled in dialled_forms:
        e164 = rules.apply("calleein", dialled)
        assert e164 == domestic, dialled
        sent = rules.apply("calleeout", e164)
        assert sent.isdigit()  # dialable: digits only, national or international form
        assert rules.apply("calleein", sent) == e164
        if tp and not (area and nsn.startswith(area)):
            assert sent == tp + nsn  # out-of-area national numbers get the trunk prefix back
    for dialled in (foreign, ic + foreign[1:]):
        e164 = rules.apply("callerin", dialled)
        assert e164 == foreign
        sent = rules.apply("callerout", e164)
        assert sent == ic + foreign[1:]
        assert rules.apply("callerin", sent) == foreign


# ------------------------------------------------------------ apply semantics


def _rule(
    priority: int, match: str, replace: str, kind: nb.RuleKind = "calleein", rid: int | None = None
) -> TransformationRule:
    return TransformationRule(type=kind, priority=priority, match_expr=match, replace_expr=replace, id=rid)


def test_apply_first_match_by_ascending_priority_wins() -> None:
    rules = [_rule(5, "^([0-9]+)$", r"+34\1"), _rule(1, "^(00)([0-9]+)$", r"+\2")]
    assert nb.apply(rules, "calleein", "0033123") == "+33123"
    assert nb.apply(rules, "calleein", "911") == "+34911"


def test_apply_ties_broken_by_id_then_position() -> None:
    rules = [_rule(1, "^9", "B", rid=7), _rule(1, "^9", "A", rid=3), _rule(1, "^9", "C"), _rule(1, "^9", "D")]
    assert nb.transform(rules, "calleein", "9").number == "C"  # id None sorts first, then position
    assert nb.apply(rules[:2], "calleein", "9") == "A"


def test_apply_only_uses_rules_of_the_requested_kind() -> None:
    rules = [_rule(1, "^(.*)$", r"out\1", kind="calleeout"), _rule(1, "^(.*)$", r"in\1", kind="callerin")]
    assert nb.apply(rules, "calleein", "123") == "123"
    assert nb.apply(rules, "calleeout", "123") == "out123"
    assert nb.apply(rules, "callerin", "123") == "in123"


def test_no_match_leaves_number_unchanged() -> None:
    result = nb.transform([_rule(1, "^00", "x")], "calleein", "911")
    assert result.number == "911"
    assert result.rule is None
    assert not result.changed


def test_transform_reports_applied_rule() -> None:
    rule = _rule(1, "^0([0-9]+)$", r"+44\1")
    result = nb.transform(RuleSet([rule]), "calleein", "0161")
    assert result == nb.TransformResult("+44161", rule)
    assert result.changed


def test_replacement_is_the_template_like_kamailio_dialplan() -> None:
    """Text outside the match is dropped (dialplan semantics, not re.sub)."""
    assert nb.apply([_rule(1, "34", "X")], "calleein", "+3491") == "X"
    assert nb.apply([_rule(1, "(3)(4)", r"\2\1\0")], "calleein", "+3491") == "4334"


def test_replacement_escapes_and_unmatched_groups() -> None:
    assert nb.apply([_rule(1, "^(a)?([0-9]+)$", r"[\1]\2\\")], "calleein", "12") == "[]12\\"
    assert nb.apply([_rule(1, "^([0-9]+)$", r"\x\1")], "calleein", "12") == "x12"
    assert nb.apply([_rule(1, "^([0-9]+)$", "trail\\")], "calleein", "12") == "trail\\"


def test_invalid_rule_never_crashes_and_is_skipped() -> None:
    rules = [_rule(1, "([0-9]+", r"\1"), _rule(2, "", "x"), _rule(3, "^(9)", r"+\1")]
    assert nb.apply(rules, "calleein", "91") == "+9"


def test_first_matching_rule_with_unusable_replacement_leaves_number_unchanged() -> None:
    rules = [_rule(1, "^(9)", r"\2"), _rule(2, "^9", "never")]
    assert nb.transform(rules, "calleein", "91") == nb.TransformResult("91", None)
    assert nb.apply([_rule(1, "^9", "")], "calleein", "91") == "91"


def test_too_long_numbers_are_left_alone() -> None:
    long_number = "9" * (nb.MAX_NUMBER_LENGTH + 1)
    assert nb.apply([_rule(1, "^(9+)$", r"+\1")], "calleein", long_number) == long_number
    exact = "9" * nb.MAX_NUMBER_LENGTH
    assert nb.apply([_rule(1, "^(9+)$", r"\1\1")], "calleein", exact) == exact  # output would overflow


def test_ruleset_apply_and_invalid_rules() -> None:
    rules = RuleSet([_rule(1, "^(9)$", r"\1\1"), _rule(2, "(", "x")])
    assert rules.apply("calleein", "9") == "99"
    assert rules.apply("callerout", "9") == "9"
    assert list(rules.invalid_rules()) == [1]


# -------------------------------------------------------------- PCRE conversion


@pytest.mark.parametrize(
    ("pcre", "python"),
    [
        (r"^\+34([0-9]+)$", r"^\+34([0-9]+)$"),
        (r"^[[:digit:]]{3}\z", r"^[0-9]{3}\Z"),
        (r"a\Z", r"a(?=\n?\Z)"),
        (r"\h\H\e", r"[ \t][^ \t]\x1b"),
        (r"\Q+34.\E5", r"\+34\.5"),
        (r"\Q+3", r"\+3"),
        (r"a\Eb", "ab"),
        (r"(?<cc>\d)\k<cc>\k'cc'\k{cc}", r"(?P<cc>\d)(?P=cc)(?P=cc)(?P=cc)"),
        (r"(?'cc'\d)", r"(?P<cc>\d)"),
        (r"(?<=\+)34(?<!0)", r"(?<=\+)34(?<!0)"),
        (r"a{,3}b{2}c{2,}d{1,2}e{x", r"a\{,3}b{2}c{2,}d{1,2}e\{x"),
        (r"[^]a]", r"[^\]a]"),
        (r"[\d\Q]-\E\E\h\e]", r"[\d\]\- \t\x1b]"),
        (r"[[:alpha:][:space:]x[y&&~|]", r"[A-Za-z \t\n\r\f\vx\[y\&\&\~\|]"),
        (r"a+?b*+c??(?:d+)?", r"a+?b*+c??(?:d+)?"),
        (r"(a+){2}", r"(a+){2}"),
        (r"(?i)abc", r"(?i)abc"),
    ],
)
def test_pcre_to_python(pcre: str, python: str) -> None:
    assert nb.pcre_to_python(pcre) == python


@pytest.mark.parametrize(
    ("pcre", "message"),
    [
        ("abc\\", "trailing backslash"),
        ("[abc\\", "trailing backslash"),
        ("[abc", "unterminated character class"),
        (r"[\Q+-", "unterminated character class"),
        ("(abc", "missing"),
        ("abc)", "unbalanced"),
        (r"\G1", "unsupported escape"),
        (r"\p{L}", "unsupported escape"),
        (r"[\p{L}]", "unsupported escape"),
        (r"[\H]", "unsupported escape"),
        (r"\x{41}", r"\\x\{"),
        (r"\k", "named back-reference"),
        ("(?'x", "malformed named group"),
        ("[[:^digit:]]", "negated POSIX"),
        ("[[:nope:]]", "unknown POSIX"),
        ("(a+)+", "nested unbounded"),
        (r"(\d*){3,}", "nested unbounded"),
        (r"((\d+)x)*", "nested unbounded"),
    ],
)
def test_pcre_to_python_rejects(pcre: str, message: str) -> None:
    with pytest.raises(nb.InvalidExpressionError, match=message):
        nb.pcre_to_python(pcre)


def test_compile_expression_is_cached_and_ascii() -> None:
    pattern = nb.compile_expression(r"^\d+$")
    assert pattern is nb.compile_expression(r"^\d+$")
    assert pattern.flags & re.ASCII
    assert pattern.match("٣") is None


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("a**", "invalid regular expression"),
        ("a(?i)b", "invalid regular expression"),
        ("x" * (nb.MAX_EXPRESSION_LENGTH + 1), "longer than"),
        ("(a+)+", "nested unbounded"),
    ],
)
def test_compile_expression_errors(expr: str, message: str) -> None:
    with pytest.raises(nb.InvalidExpressionError, match=message):
        nb.compile_expression(expr)
    assert nb.validate_expression(expr)


def test_validate_expression_ok_and_empty() -> None:
    assert nb.validate_expression(r"^(\+|00)([0-9]+)$") == []
    assert nb.validate_expression("") == ["match expression must not be empty"]


@pytest.mark.parametrize(
    ("repl", "match", "fragment"),
    [
        ("", None, "must not be empty"),
        ("$rU", None, "pseudo-variables"),
        (r"\u", None, "unsupported escape"),
        ("abc\\", None, "lone backslash"),
        (r"\3", r"^(1)(2)$", "only 2 group(s)"),
    ],
)
def test_validate_replacement_errors(repl: str, match: str | None, fragment: str) -> None:
    errors = nb.validate_replacement(repl, match)
    assert any(fragment in e for e in errors), errors


def test_validate_replacement_ok() -> None:
    assert nb.validate_replacement(r"+\2\\", r"^(\+|00)([0-9]+)$") == []
    assert (
        nb.validate_replacement(r"\9", "(") == []
    )  # group check skipped when the match expression is invalid


def test_validate_rule_collects_every_problem() -> None:
    bad = TransformationRule(type="sideways", priority=1, match_expr="(", replace_expr="")  # type: ignore[arg-type]
    errors = nb.validate_rule(bad)
    assert errors[0].startswith("type must be one of")
    assert any(e.startswith("match expression:") for e in errors)
    assert any(e.startswith("replacement:") for e in errors)
    assert nb.validate_rule(_rule(1, "^(1)$", r"\1")) == []
    assert nb.validate_rules([_rule(1, "^1$", "2"), bad]) == {1: errors}


# -------------------------------------------------------------- internal numbers


def test_extensions_are_internal() -> None:
    assert nb.is_internal("101", {"101", "102"})
    assert not nb.is_internal("103", {"101", "102"})


def test_service_codes_are_internal_even_when_always_applying_transformations() -> None:
    assert nb.is_internal("*21*600", set())
    assert nb.is_internal("*8", set(), always_apply_transformations=True)
    assert not nb.is_internal("*8", set(), service_code_prefix="")


def test_friend_patterns_are_internal() -> None:
    patterns = ["", "([", "^55[0-9]{2}$"]
    assert nb.is_internal("5501", [], patterns)
    assert not nb.is_internal("5601", [], patterns)
    assert not nb.is_internal("5" * (nb.MAX_NUMBER_LENGTH + 1), [], ["^5"])


def test_always_apply_transformations_flag_forces_transformation() -> None:
    assert not nb.is_internal("101", {"101"}, ["^1"], always_apply_transformations=True)


# ------------------------------------------------------------- E.164 writing and rule-set helper


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+34911222333", "+34911222333"),
        ("0034911222333", "+34911222333"),
        ("34911222333", "+34911222333"),
        (" 34911222333 ", "+34911222333"),
        ("alice", "alice"),  # not a number: kept
        ("911 222", "911 222"),  # separators: kept (not digits only)
        ("", ""),
        (None, ""),
    ],
)
def test_to_e164(number: str | None, expected: str) -> None:
    assert nb.to_e164(number) == expected


def test_transform_number_without_rules_or_number() -> None:
    rules = RuleSet([TransformationRule("calleein", 1, r"^0([1-9][0-9]+)$", r"+34\1"),
                     TransformationRule("callerin", 1, r"^$", r"+34")])
    assert nb.transform_number(rules, "calleein", "0911222333") == "+34911222333"
    assert nb.transform_number(rules, "callerout", "0911222333") == "0911222333"
    assert nb.transform_number(None, "calleein", "0911") == "0911"
    assert nb.transform_number(rules, "callerin", "") == ""  # an empty number is never made up
