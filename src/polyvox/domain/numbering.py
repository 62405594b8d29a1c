"""Number formats and numeric transformations (IvozProvider 9.7.3, 6.1).

Everything in the platform talks E.164 (``+34911234567``).  Each external
party (carriers, DDI providers, clients, endpoints) has a *transformation rule
set* describing how it writes numbers; four rule kinds exist:

* ``callerin`` / ``calleein``: external format -> E.164 (origin / destination),
* ``callerout`` / ``calleeout``: E.164 -> external format.

Rules of one kind are tried by ascending priority, the first whose regular
expression matches wins and the number becomes the replacement template with
``\\1``..``\\9`` expanded (Kamailio ``dialplan`` semantics: text outside the
match is *not* kept).  No match leaves the number unchanged.

Rule expressions are written in PCRE syntax (that is what Kamailio used); they
are converted to Python ``re`` syntax by :func:`pcre_to_python`, compiled once
(``functools.lru_cache``) and validated by :func:`validate_rule` so that the API
can refuse bad input.  :func:`apply` never raises because of a bad rule: such a
rule simply never matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_NUMBER_LENGTH",
    "RULE_KINDS",
    "InvalidExpressionError",
    "RuleKind",
    "RuleSet",
    "TransformResult",
    "TransformationRule",
    "apply",
    "clean_number",
    "compile_expression",
    "generate_rules",
    "is_e164",
    "is_internal",
    "normalize",
    "normalize_country_code",
    "pcre_to_python",
    "to_e164",
    "transform",
    "transform_number",
    "validate_expression",
    "validate_replacement",
    "validate_rule",
    "validate_rules",
]

RuleKind = Literal["callerin", "calleein", "callerout", "calleeout"]
RULE_KINDS: tuple[RuleKind, ...] = get_args(RuleKind)

#: Longest accepted rule expression (IvozProvider stores them in VARCHAR columns).
MAX_EXPRESSION_LENGTH = 512
#: Longest number a rule is applied to / produced (Kamailio dialplan buffer is 127).
MAX_NUMBER_LENGTH = 127

_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
_SEPARATORS_RE = re.compile(r"[\s\-.()/]", re.ASCII)


class InvalidExpressionError(ValueError):
    """A PCRE expression that cannot be (safely) used."""


# --------------------------------------------------------------------------- E.164


def is_e164(number: str) -> bool:
    """``+`` followed by 2..15 digits, first digit not 0 (ITU-T E.164)."""
    return _E164_RE.fullmatch(number) is not None


def to_e164(number: str | None) -> str:
    """A number written in international form as E.164: ``0034911...`` / ``34911...`` /
    ``+34911...`` -> ``+34911...``; anything else (letters, separators) is kept as it is, stripped
    of surrounding blanks; ``None`` -> ``""``. Not a check: see :func:`is_e164`."""
    n = (number or "").strip()
    if n.startswith("+"):
        return n
    if n.startswith("00"):
        return "+" + n[2:]
    return "+" + n if n.isdigit() else n


def clean_number(number: str) -> str:
    """Drop visual separators (spaces, dashes, dots, parentheses, slashes)."""
    return _SEPARATORS_RE.sub("", number)


def normalize_country_code(country_code: str) -> str:
    """``"34"``, ``"+34"`` or ``"0034"``-less forms -> ``"+34"``; raises on garbage."""
    code = country_code.strip()
    digits = code[1:] if code.startswith("+") else code
    if not re.fullmatch(r"[1-9][0-9]{0,2}", digits, re.ASCII):
        raise ValueError(f"invalid country calling code {country_code!r}: expected 1-3 digits, e.g. '+34'")
    return "+" + digits


def normalize(
    number: str,
    country_code: str,
    *,
    international_code: str = "00",
    trunk_prefix: str = "",
    area_code: str = "",
    national_len: int = 9,
) -> str:
    """Convert a dialled number written in a country's format to E.164.

    Uses the *in* rules of :func:`generate_rules` (so it behaves exactly like an
    automatically generated rule set).  Raises ``ValueError`` when the result
    is not E.164 (e.g. empty input or letters).
    """
    rules = RuleSet(
        generate_rules(
            international_code=international_code,
            country_code=country_code,
            trunk_prefix=trunk_prefix,
            area_code=area_code,
            national_len=national_len,
        )
    )
    result = rules.apply("calleein", clean_number(number))
    if not is_e164(result):
        raise ValueError(f"cannot normalise {number!r} to E.164 (got {result!r})")
    return result


# --------------------------------------------------------------------- rule model


@dataclass(frozen=True, slots=True)
class TransformationRule:
    """One row of a transformation rule set (``TransformationRules``)."""

    type: RuleKind
    priority: int
    match_expr: str
    replace_expr: str
    id: int | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class TransformResult:
    """Outcome of :func:`transform`: the new number and the rule that produced it."""

    number: str
    rule: TransformationRule | None

    @property
    def changed(self) -> bool:
        return self.rule is not None


# ------------------------------------------------------------ PCRE -> Python re

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": r"\x00-\x7f",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": "0-9",
    "graph": r"\x21-\x7e",
    "lower": "a-z",
    "print": r"\x20-\x7e",
    "punct": r"!-/:-@\[-`{-~",
    "space": r" \t\n\r\f\v",
    "upper": "A-Z",
    "word": r"\w",
    "xdigit": "0-9A-Fa-f",
}
# PCRE escapes with no Python equivalent.
_UNSUPPORTED_ESCAPES = frozenset("GKRXCpPgNoc")
_QUANT_BRACE_RE = re.compile(r"\{([0-9]+)(,([0-9]*))?\}", re.ASCII)
_POSIX_RE = re.compile(r"\[:(\^?)([a-z]+):\]", re.ASCII)
_NAMED_BACKREF_RE = re.compile(r"\\k(?:<(\w+)>|'(\w+)'|\{(\w+)\})", re.ASCII)


def _convert_class(expr: str, i: int) -> tuple[str, int]:
    """Convert the character class starting at ``expr[i] == '['``; return (text, next index)."""
    n = len(expr)
    parts = ["["]
    j = i + 1
    if j < n and expr[j] == "^":
        parts.append("^")
        j += 1
    first = True
    while True:
        if j >= n:
            raise InvalidExpressionError("unterminated character class '['")
        ch = expr[j]
        if ch == "]":
            if first:  # leading ']' is a literal in PCRE
                parts.append(r"\]")
                j += 1
                first = False
                continue
            parts.append("]")
            return "".join(parts), j + 1
        first = False
        if ch == "\\":
            if j + 1 >= n:
                raise InvalidExpressionError("trailing backslash")
            esc = expr[j + 1]
            if esc == "Q":
                end = expr.find("\\E", j + 2)
                literal = expr[j + 2 :] if end < 0 else expr[j + 2 : end]
                parts.extend(re.escape(c) for c in literal)
                j = n if end < 0 else end + 2
                continue
            if esc == "E":
                j += 2
                continue
            if esc == "h":
                parts.append(r" \t")
            elif esc == "e":
                parts.append(r"\x1b")
            elif esc in _UNSUPPORTED_ESCAPES or esc == "H":
                raise InvalidExpressionError(f"unsupported escape '\\{esc}' in character class")
            else:
                parts.append("\\" + esc)
            j += 2
            continue
        if ch == "[":
            m = _POSIX_RE.match(expr, j)
            if m is not None:
                if m.group(1):
                    raise InvalidExpressionError(f"negated POSIX class '[:^{m.group(2)}:]' is not supported")
                name = m.group(2)
                if name not in _POSIX_CLASSES:
                    raise InvalidExpressionError(f"unknown POSIX class '[:{name}:]'")
                parts.append(_POSIX_CLASSES[name])
                j = m.end()
                continue
            parts.append(r"\[")
            j += 1
            continue
        if ch in "&~|":  # avoid Python's "possible set operation" warnings
            parts.append("\\" + ch)
            j += 1
            continue
        parts.append(ch)
        j += 1


def pcre_to_python(expr: str) -> str:
    """Translate a PCRE expression into an equivalent Python ``re`` expression.

    Handles ``\\z``/``\\Z``/``\\h``/``\\e``/``\\Q..\\E``, ``(?<name>..)``,
    ``(?'name'..)``, ``\\k<name>``, POSIX classes (``[[:digit:]]``) and PCRE's
    literal ``{,n}``.  Raises :class:`InvalidExpressionError` for constructs
    Python cannot express (``\\G``, ``\\K``, ``\\p{..}``, recursion...) and, as a
    safety measure for code running on every call, for *nested unbounded
    quantifiers* such as ``(a+)+`` (catastrophic backtracking).
    """
    out: list[str] = []
    n = len(expr)
    i = 0
    # For every open group: does its body contain an unbounded quantifier?
    frames: list[bool] = [False]
    # Set right after ')' closes a group: whether that group had an unbounded quantifier.
    closed_group_unbounded: bool | None = None
    while i < n:
        c = expr[i]
        just_closed = closed_group_unbounded
        closed_group_unbounded = None
        if c == "\\":
            if i + 1 >= n:
                raise InvalidExpressionError("trailing backslash")
            esc = expr[i + 1]
            if esc == "Q":
                end = expr.find("\\E", i + 2)
                literal = expr[i + 2 :] if end < 0 else expr[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if esc == "E":
                i += 2
                continue
            if esc == "k":
                m = _NAMED_BACKREF_RE.match(expr, i)
                if m is None:
                    raise InvalidExpressionError("malformed named back-reference '\\k'")
                out.append(f"(?P={m.group(1) or m.group(2) or m.group(3)})")
                i = m.end()
                continue
            if esc in _UNSUPPORTED_ESCAPES:
                raise InvalidExpressionError(f"unsupported escape '\\{esc}'")
            if esc == "x" and expr.startswith("{", i + 2):
                raise InvalidExpressionError("unsupported escape '\\x{...}'")
            out.append(
                {"z": r"\Z", "Z": r"(?=\n?\Z)", "h": r"[ \t]", "H": r"[^ \t]", "e": r"\x1b"}.get(
                    esc, "\\" + esc
                )
            )
            i += 2
            continue
        if c == "[":
            text, i = _convert_class(expr, i)
            out.append(text)
            continue
        if c == "(":
            if expr.startswith("(?<", i) and not expr.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            elif expr.startswith("(?'", i):
                end = expr.find("'", i + 3)
                if end < 0:
                    raise InvalidExpressionError("malformed named group \"(?'name'\"")
                out.append(f"(?P<{expr[i + 3 : end]}>")
                i = end + 1
            else:
                out.append("(")
                i += 1
            frames.append(False)
            continue
        if c == ")":
            if len(frames) == 1:
                raise InvalidExpressionError("unbalanced parenthesis ')'")
            inner = frames.pop()
            frames[-1] = frames[-1] or inner
            closed_group_unbounded = inner
            out.append(")")
            i += 1
            continue
        if c in "*+?{":
            if c == "{":
                m = _QUANT_BRACE_RE.match(expr, i)
                if m is None:
                    # Not a quantifier: a literal brace in PCRE (Python reads "{,n}" as a quantifier).
                    out.append(r"\{")
                    i += 1
                    continue
                unbounded = m.group(2) is not None and m.group(3) == ""
                out.append(m.group(0))
                i = m.end()
            else:
                unbounded = c != "?"
                out.append(c)
                i += 1
            if i < n and expr[i] in "?+":  # lazy / possessive modifier (Python 3.11 has both)
                out.append(expr[i])
                i += 1
            if unbounded:
                if just_closed:
                    raise InvalidExpressionError(
                        "nested unbounded quantifiers (like '(a+)+') can backtrack catastrophically; "
                        "rewrite the expression"
                    )
                frames[-1] = True
            continue
        out.append(c)
        i += 1
    if len(frames) != 1:
        raise InvalidExpressionError("missing ')'")
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _compile_cached(expr: str) -> re.Pattern[str] | str:
    """Compiled pattern, or the error message (errors are cached too)."""
    if len(expr) > MAX_EXPRESSION_LENGTH:
        return f"expression longer than {MAX_EXPRESSION_LENGTH} characters"
    try:
        return re.compile(pcre_to_python(expr), re.ASCII)
    except InvalidExpressionError as exc:
        return str(exc)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"invalid regular expression: {exc}"


def compile_expression(expr: str) -> re.Pattern[str]:
    """Compile (cached) a PCRE expression; raises :class:`InvalidExpressionError`."""
    compiled = _compile_cached(expr)
    if isinstance(compiled, str):
        raise InvalidExpressionError(compiled)
    return compiled


def _try_compile(expr: str) -> re.Pattern[str] | None:
    compiled = _compile_cached(expr)
    return None if isinstance(compiled, str) else compiled


# ------------------------------------------------------------- replacement parsing

_Template = tuple[str | int, ...]


@functools.lru_cache(maxsize=4096)
def _parse_replacement(repl: str) -> tuple[_Template, int]:
    """Split ``+34\\1`` into ``("+34", 1)``; return (parts, highest group referenced)."""
    parts: list[str | int] = []
    literal: list[str] = []
    max_group = 0
    i = 0
    n = len(repl)
    while i < n:
        ch = repl[i]
        if ch == "\\" and i + 1 < n:
            nxt = repl[i + 1]
            if nxt.isascii() and nxt.isdigit():
                if literal:
                    parts.append("".join(literal))
                    literal = []
                group = int(nxt)
                parts.append(group)
                max_group = max(max_group, group)
            else:
                literal.append(nxt)  # "\\" -> "\", "\x" -> "x"
            i += 2
            continue
        literal.append(ch)
        i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts), max_group


def validate_expression(expr: str) -> list[str]:
    """Problems with a match expression (empty list when usable)."""
    if not expr:
        return ["match expression must not be empty"]
    compiled = _compile_cached(expr)
    return [compiled] if isinstance(compiled, str) else []


def validate_replacement(repl: str, match_expr: str | None = None) -> list[str]:
    """Problems with a replacement template (optionally checked against its match expression)."""
    errors: list[str] = []
    if not repl:
        errors.append("replacement must not be empty")
        return errors
    if "$" in repl:
        errors.append("pseudo-variables ('$...') are not supported in replacements")
    i = 0
    while i < len(repl):
        if repl[i] == "\\":
            nxt = repl[i + 1 : i + 2]
            if not nxt:
                errors.append("replacement ends with a lone backslash")
            elif not (nxt == "\\" or (nxt.isascii() and nxt.isdigit())):
                errors.append(f"unsupported escape '\\{nxt}' in replacement (use \\0..\\9 or '\\\\')")
            i += 2
        else:
            i += 1
    if match_expr is not None:
        pattern = _try_compile(match_expr)
        _, max_group = _parse_replacement(repl)
        if pattern is not None and max_group > pattern.groups:
            errors.append(
                f"replacement refers to group \\{max_group} but the match expression has only "
                f"{pattern.groups} group(s)"
            )
    return errors


def validate_rule(rule: TransformationRule) -> list[str]:
    """All problems of a rule, as human readable messages (empty = valid)."""
    errors: list[str] = []
    if rule.type not in RULE_KINDS:
        errors.append(f"type must be one of {', '.join(RULE_KINDS)}")
    errors.extend(f"match expression: {e}" for e in validate_expression(rule.match_expr))
    errors.extend(f"replacement: {e}" for e in validate_replacement(rule.replace_expr, rule.match_expr))
    return errors


def validate_rules(rules: Iterable[TransformationRule]) -> dict[int, list[str]]:
    """Map position -> errors for every invalid rule of a set."""
    result: dict[int, list[str]] = {}
    for index, rule in enumerate(rules):
        errors = validate_rule(rule)
        if errors:
            result[index] = errors
    return result


# --------------------------------------------------------------------- applying


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: TransformationRule
    pattern: re.Pattern[str] | None  # None: invalid rule, never matches
    template: _Template
    usable: bool  # False: matching leaves the number unchanged (bad replacement)


def _compile_rule(rule: TransformationRule) -> _CompiledRule:
    pattern = _try_compile(rule.match_expr) if rule.match_expr else None
    template, max_group = _parse_replacement(rule.replace_expr)
    usable = pattern is not None and bool(rule.replace_expr) and max_group <= pattern.groups
    return _CompiledRule(rule, pattern, template, usable)


def _ordered(rules: Iterable[TransformationRule], kind: RuleKind) -> list[TransformationRule]:
    selected = [
        (r.priority, r.id if r.id is not None else -1, pos, r)
        for pos, r in enumerate(rules)
        if r.type == kind
    ]
    selected.sort(key=lambda t: t[:3])
    return [t[3] for t in selected]


def _run(compiled: Sequence[_CompiledRule], number: str) -> TransformResult:
    if len(number) > MAX_NUMBER_LENGTH:
        return TransformResult(number, None)
    for c in compiled:
        if c.pattern is None:
            continue
        m = c.pattern.search(number)
        if m is None:
            continue
        # First match wins, even if it cannot produce output (Kamailio dialplan behaviour).
        if not c.usable:
            return TransformResult(number, None)
        out = "".join(p if isinstance(p, str) else (m.group(p) or "") for p in c.template)
        if len(out) > MAX_NUMBER_LENGTH:
            return TransformResult(number, None)
        return TransformResult(out, c.rule)
    return TransformResult(number, None)


class RuleSet:
    """A transformation rule set, pre-sorted and pre-compiled per kind.

    Build it once when the configuration is loaded and call :meth:`apply` per call.
    """

    __slots__ = ("_by_kind", "rules")

    def __init__(self, rules: Iterable[TransformationRule]) -> None:
        self.rules: tuple[TransformationRule, ...] = tuple(rules)
        self._by_kind: dict[RuleKind, tuple[_CompiledRule, ...]] = {
            kind: tuple(_compile_rule(r) for r in _ordered(self.rules, kind)) for kind in RULE_KINDS
        }

    def transform(self, kind: RuleKind, number: str) -> TransformResult:
        return _run(self._by_kind.get(kind, ()), number)

    def apply(self, kind: RuleKind, number: str) -> str:
        return self.transform(kind, number).number

    def invalid_rules(self) -> dict[int, list[str]]:
        return validate_rules(self.rules)


def transform(rules: RuleSet | Iterable[TransformationRule], kind: RuleKind, number: str) -> TransformResult:
    """Like :func:`apply` but also reports which rule was used (``None``: unchanged)."""
    if isinstance(rules, RuleSet):
        return rules.transform(kind, number)
    return _run([_compile_rule(r) for r in _ordered(rules, kind)], number)


def apply(rules: RuleSet | Iterable[TransformationRule], kind: RuleKind, number: str) -> str:
    """Transform ``number`` with the rules of ``kind`` (first match by priority wins)."""
    return transform(rules, kind, number).number


def transform_number(rules: RuleSet | None, kind: RuleKind, number: str) -> str:
    """:func:`apply` for an endpoint or client that may have no rule set (``None``: the number as
    it is); an empty number is never transformed (no rule may make one up)."""
    if rules is None or not number:
        return number
    return rules.apply(kind, number)


# --------------------------------------------------------------- rule generator


def generate_rules(
    *,
    international_code: str,
    country_code: str,
    trunk_prefix: str = "",
    area_code: str = "",
    national_len: int = 9,
    readd_trunk_prefix: bool = True,
) -> tuple[TransformationRule, ...]:
    """Automatic rule generator (IvozProvider ``GenerateInRules``/``GenerateOutRules``).

    In rules (for ``callerin`` and ``calleein``):

    1. ``^(\\+|<ic>)([0-9]+)$`` -> ``+\\2`` (always)
    2. ``^<tp>([0-9]{<len>})$`` -> ``<cc>\\1`` (with trunk prefix)
    3. ``^([0-9]{<len-len(area)>})$`` -> ``<cc><area>\\1`` (with area code)
    5. ``^([0-9]+)$`` -> ``<cc>\\1`` (always)

    Out rules (for ``callerout`` and ``calleeout``):

    1. ``^\\<cc><area>([0-9]{<len-len(area)>})$`` -> ``\\1`` (with area code)
    2. ``^\\<cc>([0-9]{<len>})$`` -> ``<tp>\\1`` (with trunk prefix; see below)
    3. ``^\\<cc>([0-9]+)$`` -> ``\\1`` (always)
    4. ``^\\+([0-9]+)$`` -> ``<ic>\\1`` (always)

    IvozProvider's out rule 2 replaces with ``\\1`` only, dropping the trunk
    prefix, so carriers of trunk-prefix countries (UK ``0``, Germany ``0``...)
    receive an undiallable national number.  By default the trunk prefix is put
    back (``readd_trunk_prefix=True``); pass ``False`` for the IvozProvider rows.
    """
    ic = international_code.strip()
    if not re.fullmatch(r"[0-9]{1,5}", ic, re.ASCII):
        raise ValueError(f"invalid international code {international_code!r}: expected 1-5 digits, e.g. '00'")
    cc = normalize_country_code(country_code)
    tp = trunk_prefix.strip()
    if tp and not re.fullmatch(r"[0-9]{1,5}", tp, re.ASCII):
        raise ValueError(f"invalid trunk prefix {trunk_prefix!r}: expected up to 5 digits")
    area = area_code.strip()
    if area and not re.fullmatch(r"[0-9]{1,10}", area, re.ASCII):
        raise ValueError(f"invalid area code {area_code!r}: expected up to 10 digits")
    if not 1 <= national_len <= 15:
        raise ValueError(f"invalid national number length {national_len}: expected 1..15")
    subscriber_len = national_len - len(area)
    if area and subscriber_len < 1:
        raise ValueError("area code must be shorter than the national number length")
    escaped_cc = "\\" + cc  # "\+34"

    in_templates: list[tuple[int, str, str, str]] = [
        (1, "From international to e164", f"^(\\+|{ic})([0-9]+)$", "+\\2"),
    ]
    if tp:
        in_templates.append(
            (2, "From out of area national to e164", f"^{tp}([0-9]{{{national_len}}})$", f"{cc}\\1")
        )
    if area:
        in_templates.append(
            (3, "From within area national to e164", f"^([0-9]{{{subscriber_len}}})$", f"{cc}{area}\\1")
        )
    in_templates.append((5, "From national to e164", "^([0-9]+)$", f"{cc}\\1"))

    out_templates: list[tuple[int, str, str, str]] = []
    if area:
        out_templates.append(
            (
                1,
                "From e164 to within area national",
                f"^{escaped_cc}{area}([0-9]{{{subscriber_len}}})$",
                "\\1",
            )
        )
    if tp:
        out_templates.append(
            (
                2,
                "From e164 to out of area national",
                f"^{escaped_cc}([0-9]{{{national_len}}})$",
                f"{tp}\\1" if readd_trunk_prefix else "\\1",
            )
        )
    out_templates.append((3, "From e164 to special national", f"^{escaped_cc}([0-9]+)$", "\\1"))
    out_templates.append((4, "From e164 to international", "^\\+([0-9]+)$", f"{ic}\\1"))

    plan: tuple[tuple[tuple[RuleKind, ...], list[tuple[int, str, str, str]]], ...] = (
        (("callerin", "calleein"), in_templates),
        (("callerout", "calleeout"), out_templates),
    )
    rules: list[TransformationRule] = []
    for kinds, templates in plan:
        for kind in kinds:
            for priority, description, match, replace in templates:
                rules.append(
                    TransformationRule(
                        type=kind,
                        priority=priority,
                        match_expr=match,
                        replace_expr=replace,
                        description=description,
                    )
                )
    return tuple(rules)


# --------------------------------------------------------------- internal numbers


def is_internal(
    number: str,
    extensions: Collection[str],
    friend_patterns: Iterable[str] = (),
    *,
    always_apply_transformations: bool = False,
    service_code_prefix: str = "*",
) -> bool:
    """Is ``number`` internal, i.e. must it skip numeric transformations?

    Internal numbers are the client's extensions, numbers matching any of its
    friends' regular expressions (searched, like MySQL ``REGEXP``) and service
    codes (``*...``).  When the endpoint has *always apply transformations* set,
    extensions and friend patterns are transformed anyway; service codes never
    are (they are never valid external numbers).  Invalid friend patterns are
    ignored.
    """
    if service_code_prefix and number.startswith(service_code_prefix):
        return True
    if always_apply_transformations:
        return False
    if number in extensions:
        return True
    if len(number) > MAX_NUMBER_LENGTH:
        return False
    for expr in friend_patterns:
        pattern = _try_compile(expr) if expr else None
        if pattern is not None and pattern.search(number) is not None:
            return True
    return False
