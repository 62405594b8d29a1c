"""A small, safe, Twig-like template language for terminal provisioning files.

Templates are written by the global operator and rendered with plain data only (dicts,
lists, strings, numbers), so a template can read values but never reach Python objects,
attributes, functions or files: there is no attribute access, no call other than the
filters listed below, and output and loop sizes are bounded.

Syntax (a subset of Twig, the syntax of IvozProvider's templates of the 3.x series):

* ``{{ expression }}`` prints; ``{# ... #}`` is a comment;
* ``{% if expr %} ... {% elseif expr %} ... {% else %} ... {% endif %}`` (``elif`` too);
* ``{% for item in expr %} ... {% else %} ... {% endfor %}`` with ``loop.index``
  (1-based), ``loop.index0``, ``loop.first``, ``loop.last``, ``loop.length``;
* ``{%-``/``-%}``/``{{-``/``-}}`` trim the whitespace on that side;
* expressions: variables and dotted paths (``terminal.name``, ``language.name.en``,
  ``list[0]``), strings in single or double quotes, integers, ``true``/``false``/``null``,
  ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not``, ``and``, ``or``, ``~``
  (concatenation), parentheses and filters: ``upper``, ``lower``, ``capitalize``, ``trim``,
  ``default(value)``, ``replace(search, replacement)``, ``length``, ``join(separator)``,
  ``first``, ``last``, ``escape``/``e`` (XML), ``url_encode``.

An undefined variable prints as an empty string (Twig's non-strict mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

MAX_OUTPUT = 1_000_000
MAX_ITERATIONS = 100_000


class TemplateError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


# ---------------------------------------------------------------------------------------------
# lexing


_TAG = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?) |
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
    (?P<op>==|!=|<=|>=|[<>|~().,\[\]]) |
    (?P<name>[A-Za-z_][A-Za-z0-9_]*)
)""", re.X)


@dataclass
class _Tok:
    kind: str
    value: str


def _tokens(src: str, line: int) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"unexpected character {src[pos:].strip()[:1]!r} in expression", line)
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        out.append(_Tok(kind, m.group(kind)))
    return out


# ---------------------------------------------------------------------------------------------
# expressions


class _Parser:
    def __init__(self, toks: list[_Tok], line: int) -> None:
        self.toks = toks
        self.i = 0
        self.line = line

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (value is not None and tok.value != value):
            raise TemplateError(f"expected {value!r}" if value else "unexpected end of expression", self.line)
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.value == value and tok.kind in ("op", "name")

    def done(self) -> None:
        if self.peek() is not None:
            raise TemplateError(f"unexpected {self.peek().value!r}", self.line)  # type: ignore[union-attr]

    def expr(self) -> Any:
        left = self.and_()
        while self.at("or"):
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.not_()
        while self.at("and"):
            self.take()
            left = ("and", left, self.not_())
        return left

    def not_(self) -> Any:
        if self.at("not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Any:
        left = self.concat()
        tok = self.peek()
        if tok is not None and tok.value in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self.take()
            return ("cmp", tok.value, left, self.concat())
        if self.at("not") and self.i + 1 < len(self.toks) and self.toks[self.i + 1].value == "in":
            self.take()
            self.take()
            return ("not", ("cmp", "in", left, self.concat()))
        return left

    def concat(self) -> Any:
        left = self.filtered()
        while self.at("~"):
            self.take()
            left = ("concat", left, self.filtered())
        return left

    def filtered(self) -> Any:
        node = self.primary()
        while self.at("|"):
            self.take()
            name = self.take()
            if name.kind != "name" or name.value not in FILTERS:
                raise TemplateError(f"unknown filter {name.value!r}", self.line)
            args = []
            if self.at("("):
                self.take()
                if not self.at(")"):
                    args.append(self.expr())
                    while self.at(","):
                        self.take()
                        args.append(self.expr())
                self.take(")")
            node = ("filter", name.value, node, args)
        return node

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind == "num":
            return ("lit", float(tok.value) if "." in tok.value else int(tok.value))
        if tok.kind == "str":
            return ("lit", re.sub(r"\\(.)", r"\1", tok.value[1:-1]))
        if tok.value == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.kind != "name":
            raise TemplateError(f"unexpected {tok.value!r}", self.line)
        low = tok.value.lower()
        if low in ("true", "false"):
            return ("lit", low == "true")
        if low in ("null", "none"):
            return ("lit", None)
        node: Any = ("var", tok.value)
        while self.at(".") or self.at("["):
            if self.take().value == ".":
                attr = self.take()
                if attr.kind not in ("name", "num"):
                    raise TemplateError("expected a name after '.'", self.line)
                node = ("get", node, ("lit", attr.value))
            else:
                node = ("get", node, self.expr())
                self.take("]")
        return node


def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return ""
    return str(v)


def _replace(v: Any, search: Any = "", replacement: Any = "") -> str:
    if isinstance(search, dict):
        out = _str(v)
        for k, r in search.items():
            out = out.replace(_str(k), _str(r))
        return out
    return _str(v).replace(_str(search), _str(replacement))


FILTERS: dict[str, Any] = {
    "upper": lambda v: _str(v).upper(),
    "lower": lambda v: _str(v).lower(),
    "capitalize": lambda v: _str(v).capitalize(),
    "trim": lambda v: _str(v).strip(),
    "default": lambda v, d="": d if v in (None, "", [], {}) else v,
    "replace": _replace,
    "length": lambda v: len(v) if isinstance(v, (str, list, dict)) else 0,
    "join": lambda v, sep="": _str(sep).join(_str(x) for x in v) if isinstance(v, list) else _str(v),
    "first": lambda v: (v[0] if v else None) if isinstance(v, (list, str)) else None,
    "last": lambda v: (v[-1] if v else None) if isinstance(v, (list, str)) else None,
    "escape": lambda v: xml_escape(_str(v), {'"': "&quot;", "'": "&apos;"}),
    "e": lambda v: xml_escape(_str(v), {'"': "&quot;", "'": "&apos;"}),
    "url_encode": lambda v: quote(_str(v), safe=""),
}


def _eval(node: Any, ctx: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        return ctx.get(node[1])
    if kind == "get":
        base, key = _eval(node[1], ctx), _eval(node[2], ctx)
        if isinstance(base, dict):
            return base.get(key if not isinstance(key, (int, float)) else str(key), base.get(key))
        if isinstance(base, (list, str)):
            try:
                return base[int(key)]
            except (ValueError, TypeError, IndexError):
                return None
        return None
    if kind == "not":
        return not _eval(node[1], ctx)
    if kind == "and":
        return _eval(node[1], ctx) and _eval(node[2], ctx)
    if kind == "or":
        return _eval(node[1], ctx) or _eval(node[2], ctx)
    if kind == "concat":
        return _str(_eval(node[1], ctx)) + _str(_eval(node[2], ctx))
    if kind == "filter":
        args = [_eval(a, ctx) for a in node[3]]
        try:
            return FILTERS[node[1]](_eval(node[2], ctx), *args)
        except TypeError:
            return None
    if kind == "cmp":
        op, a, b = node[1], _eval(node[2], ctx), _eval(node[3], ctx)
        try:
            if op == "==":
                return a == b
            if op == "!=":
                return a != b
            if op == "in":
                return a in b if isinstance(b, (list, dict, str)) and (isinstance(b, (list, dict)) or
                                                                        isinstance(a, str)) else False
            return {"<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b}[op]()
        except TypeError:
            return False
    raise AssertionError(kind)  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# statements


@dataclass
class _If:
    branches: list[tuple[Any, list[Any]]] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)
    has_else: bool = False


@dataclass
class _For:
    var: str
    source: Any
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)
    has_else: bool = False


def parse(text: str) -> list[Any]:
    """Compile a template; raise :class:`TemplateError` (with its line) on a syntax error."""
    root: list[Any] = []
    stack: list[tuple[Any, list[Any], int]] = []  # (node, current body, opening line)
    body = root
    line = 1
    parts = _TAG.split(text)
    # whitespace control
    for i, part in enumerate(parts):
        if i % 2 == 1 and part[2:3] == "-" and i > 0:
            parts[i - 1] = parts[i - 1].rstrip()
        if i % 2 == 1 and part[-3:-2] == "-" and i + 1 < len(parts):
            parts[i + 1] = parts[i + 1].lstrip()
    for i, part in enumerate(parts):
        here = line
        line += part.count("\n")
        if i % 2 == 0:
            if "{{" in part or "{%" in part:
                raise TemplateError("unclosed tag", here + part[:part.find("{")].count("\n"))
            if part:
                body.append(part)
            continue
        inner = part[2:-2].strip("-").strip()
        if part.startswith("{#"):
            continue
        if part.startswith("{{"):
            p = _Parser(_tokens(inner, here), here)
            node = p.expr()
            p.done()
            body.append(("print", node))
            continue
        words = inner.split(None, 1)
        if not words:
            raise TemplateError("empty tag", here)
        tag, rest = words[0], (words[1] if len(words) > 1 else "")
        if tag == "if":
            p = _Parser(_tokens(rest, here), here)
            cond = p.expr()
            p.done()
            node_if = _If([(cond, [])])
            body.append(node_if)
            stack.append((node_if, body, here))
            body = node_if.branches[0][1]
        elif tag in ("elseif", "elif"):
            if not stack or not isinstance(stack[-1][0], _If) or stack[-1][0].has_else:
                raise TemplateError(f"unexpected {tag}", here)
            p = _Parser(_tokens(rest, here), here)
            cond = p.expr()
            p.done()
            stack[-1][0].branches.append((cond, []))
            body = stack[-1][0].branches[-1][1]
        elif tag == "else":
            if not stack:
                raise TemplateError("unexpected else", here)
            node = stack[-1][0]
            if node.has_else:
                raise TemplateError("duplicate else", here)
            node.has_else = True
            body = node.otherwise
        elif tag == "for":
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(.+)", rest, re.S)
            if m is None:
                raise TemplateError("expected 'for name in expression'", here)
            p = _Parser(_tokens(m.group(2), here), here)
            src = p.expr()
            p.done()
            node_for = _For(m.group(1), src)
            body.append(node_for)
            stack.append((node_for, body, here))
            body = node_for.body
        elif tag in ("endif", "endfor"):
            want = _If if tag == "endif" else _For
            if not stack or not isinstance(stack[-1][0], want):
                raise TemplateError(f"unexpected {tag}", here)
            _, body, _ = stack.pop()
        else:
            raise TemplateError(f"unknown tag {tag!r}", here)
    if stack:
        node, _, opened = stack[-1]
        raise TemplateError(f"{'if' if isinstance(node, _If) else 'for'} opened here is never closed", opened)
    return root


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.iterations = 0

    def write(self, s: str) -> None:
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"output larger than {MAX_OUTPUT} characters", 0)
        self.parts.append(s)


def _run(nodes: list[Any], ctx: dict[str, Any], out: _Out) -> None:
    for node in nodes:
        if isinstance(node, str):
            if node:
                out.write(node)
        elif isinstance(node, tuple):
            out.write(_str(_eval(node[1], ctx)))
        elif isinstance(node, _If):
            for cond, body in node.branches:
                if _eval(cond, ctx):
                    _run(body, ctx, out)
                    break
            else:
                _run(node.otherwise, ctx, out)
        elif isinstance(node, _For):
            seq = _eval(node.source, ctx)
            items = list(seq.values()) if isinstance(seq, dict) else list(seq) if isinstance(seq, list) else []
            if not items:
                _run(node.otherwise, ctx, out)
                continue
            for i, item in enumerate(items):
                out.iterations += 1
                if out.iterations > MAX_ITERATIONS:
                    raise TemplateError("too many loop iterations", 0)
                inner = {**ctx, node.var: item, "loop": {"index": i + 1, "index0": i, "first": i == 0,
                                                           "last": i == len(items) - 1, "length": len(items)}}
                _run(node.body, inner, out)


def render(text: str, context: dict[str, Any]) -> str:
    out = _Out()
    _run(parse(text), context, out)
    return "".join(out.parts)
