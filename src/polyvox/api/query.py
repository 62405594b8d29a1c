"""Collection query conventions of the IvozProvider API.

``_page``, ``_itemsPerPage``, ``_pagination``, ``_order[field]``, ``_properties[]``,
``field``, ``field[]``, ``field[exact|start|partial|end|neq|gt|gte|lt|lte|between|
after|before|strictly_after|strictly_before|exists]`` and ``exists[field]``; nested
value-object fields as ``group.member`` (``invoice.country``, ``name.en``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from polyvox.api.engine import DEFAULT_PER_PAGE, MAX_PER_PAGE, Resource, as_int, check_text, parse_scalar
from polyvox.api.errors import ApiError, invalid
from polyvox.db import policy
from polyvox.db.model import ENTITY, EntityDef, FieldDef

KEY = re.compile(r"^([A-Za-z0-9_.]+)(?:\[([a-z_]*)\])?$")
STRING_OPS = {"exact", "start", "partial", "end", "neq", "exists"}
NUMBER_OPS = {"exact", "neq", "gt", "gte", "lt", "lte", "between", "exists"}
DATE_OPS = {"exact", "neq", "after", "before", "strictly_after", "strictly_before", "exists"}
# Text filters on columns without a length (TEXT): longer values cannot be meant, and a LIKE
# pattern of 50,000 bytes is past SQLite's limit ("LIKE or GLOB pattern too complex").
MAX_FILTER_TEXT = 1000


@dataclass
class Query:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    paginate: bool = True
    order: list[tuple[str, str]] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    where: list[ColumnElement[bool]] = field(default_factory=list)


def _column(res: Resource, name: str) -> tuple[FieldDef, Any]:
    return _entity_column(res.ent, res.table, name, name)


def _entity_column(ent: EntityDef, table: Any, name: str, full: str, depth: int = 0) -> tuple[FieldDef, Any]:
    """The SQL expression of ``name`` on ``ent``: a column, a value-object member
    (``invoice.nif``) or a field of a related row (``schedule.name``, ``callAcl.defaultPolicy``),
    the latter as a correlated scalar subquery usable for filters and ordering."""
    if name == "id":
        return FieldDef("id", "scalar", type="integer", column="id"), table.c.id
    head, _, rest = name.partition(".")
    f = ent.fields.get(head)
    if f is None or f.kind not in ("scalar", "ref", "group"):
        raise invalid(full, "Unknown filter field.")
    if (ent.name, head) in policy.PASSWORD_FIELDS or head in ("password", "authPassword"):
        raise invalid(full, "Secrets cannot be used to filter or order.")
    assert f.column or f.kind == "group"
    if f.kind == "group":
        if rest in f.members and f.members[rest].column:
            mf = f.members[rest]
            return mf, table.c[mf.column]
        raise invalid(full, "Unknown filter field.")
    if f.kind == "ref":
        assert f.column and f.target
        if not rest:
            return FieldDef(head, "scalar", type="integer", column=f.column), table.c[f.column]
        if depth >= 2:
            raise invalid(full, "Filters may follow at most two relations.")
        target = ENTITY[f.target]
        tt = target.table.alias()
        inner_f, inner = _entity_column(target, tt, rest, full, depth + 1)
        return inner_f, select(inner).where(tt.c.id == table.c[f.column]).scalar_subquery()
    if rest:
        raise invalid(full, "Unknown filter field.")
    return f, table.c[f.column]


def _bool(name: str, v: str) -> bool:
    if v.lower() in ("1", "true"):
        return True
    if v.lower() in ("0", "false"):
        return False
    raise invalid(name, "Expected true or false.")


def parse(res: Resource, items: list[tuple[str, str]]) -> Query:
    q = Query()
    multi: dict[str, list[str]] = {}
    for key, value in items:
        check_text(key, key)
        check_text(key, value)
        if key == "_page":
            q.page = _int(key, value, 1)
        elif key == "_itemsPerPage":
            q.per_page = min(_int(key, value, 1), MAX_PER_PAGE)
        elif key == "_pagination":
            q.paginate = _bool(key, value)
        elif key in ("_properties[]", "_properties"):
            q.properties.append(value)
        elif key.startswith("_order[") and key.endswith("]"):
            fname = key[len("_order["):-1]
            direction = value.upper()
            if direction not in ("ASC", "DESC"):
                raise invalid(key, "Order must be ASC or DESC.")
            _column(res, fname)
            q.order.append((fname, direction))
        elif key.startswith("_"):
            continue  # other portal parameters (_timezone, _includeId...) do not filter
        elif key.startswith("exists[") and key.endswith("]"):
            fname = key[len("exists["):-1]
            _, col = _column(res, fname)
            q.where.append(col.is_not(None) if _bool(key, value) else col.is_(None))
        elif key.endswith("[]"):
            multi.setdefault(key[:-2], []).append(value)
        else:
            m = KEY.match(key)
            if not m:
                raise invalid(key, "Unknown filter.")
            fname, op = m.group(1), m.group(2) or "exact"
            f, col = _column(res, fname)
            q.where.append(_condition(key, f, col, op, value))
    for fname, values in multi.items():
        f, col = _column(res, fname)
        q.where.append(col.in_([parse_scalar(f, f"{fname}[]", _coerce(f, v)) for v in values]))
    return q


def _int(key: str, value: str, minimum: int) -> int:
    return as_int(key, value, minimum=minimum)


def _coerce(f: FieldDef, v: str) -> Any:
    """Query values are text; parse_scalar then checks them as it checks bodies (a boolean is
    true/false/1/0, anything else a 400)."""
    if f.type == "boolean":
        return v.lower()
    return v


def _condition(key: str, f: FieldDef, col: Any, op: str, value: str) -> ColumnElement[bool]:
    t = f.type
    allowed = DATE_OPS if t in ("date-time", "date", "time") else NUMBER_OPS if t in ("integer", "number") else \
        {"exact", "neq", "exists"} if t == "boolean" else STRING_OPS
    if op not in allowed:
        raise invalid(key, f"Unsupported filter operator '{op}' for this field.")
    if op == "exists":
        return col.is_not(None) if _bool(key, value) else col.is_(None)  # type: ignore[no-any-return]
    limit = f.max_length or MAX_FILTER_TEXT
    if t == "string" and len(value) > limit:
        raise invalid(key, f"This value is too long. It should have {limit} characters or less.")
    if op == "between":
        parts = value.split("..")
        if len(parts) != 2:
            raise invalid(key, "between expects 'low..high'.")
        lo, hi = (parse_scalar(f, key, p) for p in parts)
        return and_(col >= lo, col <= hi)
    if t in ("date-time", "date") and op in ("exact", "after", "before", "strictly_after", "strictly_before") \
            and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and t == "date-time" and op == "exact":
        # partial date: the whole day
        lo = parse_scalar(f, key, value)
        import datetime as dt
        return and_(col >= lo, col < lo + dt.timedelta(days=1))
    v = parse_scalar(f, key, _coerce(f, value)) if t != "string" or op in ("exact", "neq") else value
    if t == "string" and f.max_length is None and op in ("exact", "neq"):
        v = value
    if op == "exact":
        return col == v  # type: ignore[no-any-return]
    if op == "neq":
        return or_(col != v, col.is_(None))
    if op == "start":
        return col.like(_escape(value) + "%", escape="\\")  # type: ignore[no-any-return]
    if op == "end":
        return col.like("%" + _escape(value), escape="\\")  # type: ignore[no-any-return]
    if op == "partial":
        return func.lower(col).like("%" + _escape(value.lower()) + "%", escape="\\")  # type: ignore[no-any-return]
    ops = {"gt": col > v, "gte": col >= v, "lt": col < v, "lte": col <= v, "after": col >= v, "before": col <= v,
           "strictly_after": col > v, "strictly_before": col < v}
    return ops[op]  # type: ignore[no-any-return]


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply(res: Resource, q: Query, sel: Select[Any]) -> Select[Any]:
    for w in q.where:
        sel = sel.where(w)
    for fname, direction in q.order:
        _, col = _column(res, fname)
        sel = sel.order_by(col.desc() if direction == "DESC" else col.asc())
    sel = sel.order_by(res.table.c.id.asc())
    return sel


def check_properties(res: Resource, props: list[str], fields: tuple[str, ...]) -> tuple[str, ...]:
    if not props:
        return fields
    unknown = [p for p in props if p != "id" and res.fdef(p) is None]
    if unknown:
        raise ApiError(400, f"Unknown property: {unknown[0]}", field="_properties")
    return tuple(p for p in props if p != "id")


def fetch_page(conn: Any, sel: Select[Any], q: Query) -> tuple[int, list[Any]]:
    """The total number of matching rows and the rows of the requested page."""
    total = conn.execute(select(func.count()).select_from(sel.order_by(None).subquery())).scalar() or 0
    if q.paginate:
        sel = sel.limit(q.per_page).offset((q.page - 1) * q.per_page)
    return int(total), list(conn.execute(sel).all())


def paging_headers(path: str, params: list[tuple[str, str]], q: Query, total: int) -> dict[str, str]:
    """X-Total-Items, X-Total-Pages and the first/next/last page links of IvozProvider's API."""
    pages = max(1, -(-total // q.per_page)) if q.paginate else 1
    headers = {"X-Total-Items": str(total), "X-Total-Pages": str(pages)}
    if q.paginate:
        rest = [(k, v) for k, v in params if k != "_page"]
        url = f"{path}?"
        headers["X-First-Page"] = url + urlencode([*rest, ("_page", "1")])
        headers["X-Last-Page"] = url + urlencode([*rest, ("_page", str(pages))])
        if q.page < pages:
            headers["X-Next-Page"] = url + urlencode([*rest, ("_page", str(q.page + 1))])
    return headers
