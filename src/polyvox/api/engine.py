"""The resource engine: one declaration per resource, every CRUD operation served.

A ``Resource`` is an entity as one API level sees it: the operations it allows, the
fields of its collection, item and write representations (from the contract), and
its row scope (from the ownership paths of the model). The engine implements list
(filters, ordering, paging), get, create, update and delete once for all of them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, update
from sqlalchemy.engine import Connection

from polyvox.api import datetimes
from polyvox.api.auth import Principal, hash_password
from polyvox.api.errors import ApiError, invalid, not_found
from polyvox.api.lifecycle import POST_PERSIST, POST_REMOVE, PRE_PERSIST, PRE_REMOVE, WriteContext, run
from polyvox.db import policy
from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.model import ENTITY, EntityDef, FieldDef, config_version

OPS = ("list", "get", "create", "update", "delete")
PRIV = {"list": "read", "get": "read", "create": "create", "update": "update", "delete": "delete"}
MAX_PER_PAGE = 10000
DEFAULT_PER_PAGE = 30

# Timezone of the current request (the principal's, or ``_timezone``): date-times are
# stored in UTC and shown and read in it, as IvozProvider does.
CURRENT_TZ: ContextVar[ZoneInfo | None] = ContextVar("polyvox_tz", default=None)
# Whether the current request comes from the global operator (directly or emulating):
# only then are the platform-data fields (policy.GOD_ONLY) shown and written.
CURRENT_GOD: ContextVar[bool] = ContextVar("polyvox_god", default=False)

Computer = Callable[[Connection, Any], Any]
COMPUTED: dict[tuple[str, str], Computer] = {}


@dataclass
class Resource:
    level: str
    ent: EntityDef
    ops: tuple[str, ...]
    collection: tuple[str, ...]
    item: tuple[str, ...]
    write: tuple[str, ...]
    required: tuple[str, ...]
    simple: tuple[str, ...]
    extra_filters: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ent.name

    @property
    def path(self) -> str:
        return self.ent.path

    @property
    def table(self) -> Any:
        return self.ent.table

    def fdef(self, name: str) -> FieldDef | None:
        return self.ent.fields.get(name)


def _exposure(level: str) -> dict[str, dict[str, Any]]:
    """The contract's declarations of a level plus Polyvox's own additions (policy.EXTRA_EXPOSURE)."""
    merged = {name: dict(exp) for name, exp in EXPOSURE[level].items()}
    for name, extra in policy.EXTRA_EXPOSURE.get(level, {}).items():
        exp = merged.setdefault(name, {"ops": (), "collection": (), "item": (), "write": (), "required": (),
                                       "simple": ()})
        add = tuple(extra.get("extra_fields", ()))
        for key in ("collection", "item", "write"):
            exp[key] = tuple(dict.fromkeys((*extra.get(key, exp[key]), *add)))
        for key in ("ops", "required"):
            if key in extra:
                exp[key] = tuple(extra[key])
    return merged


def resources_for(level: str) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for name, exp in _exposure(level).items():
        if name not in ENTITY:
            continue
        required = tuple(f for f in exp["required"]
                         if (name, f) not in policy.NOT_REQUIRED and (name, f) not in policy.GOD_ONLY)

        out[name] = Resource(level=level, ent=ENTITY[name], ops=tuple(exp["ops"]), collection=tuple(exp["collection"]),
                             item=tuple(exp["item"]), write=tuple(exp["write"]), required=required,
                             simple=tuple(exp.get("simple", ())))
    return out


# ---------------------------------------------------------------------------------------------
# scoping


def _path_clause(ent: EntityDef, path: tuple[str, ...], value: Any) -> ColumnElement[bool]:
    t = ent.table
    if not path:
        return t.c.id == value  # type: ignore[no-any-return]
    head, rest = path[0], path[1:]
    f = ent.fields[head]
    assert f.column and f.target
    if not rest:
        return t.c[f.column] == value  # type: ignore[no-any-return]
    target = ENTITY[f.target]
    return t.c[f.column].in_(select(target.table.c.id).where(_path_clause(target, rest, value)))  # type: ignore[no-any-return]


def _null_owner_clause(ent: EntityDef, path: tuple[str, ...]) -> ColumnElement[bool] | None:
    if len(path) != 1:
        return None
    f = ent.fields[path[0]]
    assert f.column
    return ent.table.c[f.column].is_(None)  # type: ignore[no-any-return]


def scope_clause(ent: EntityDef, p: Principal, write: bool = False) -> ColumnElement[bool] | None:
    """Rows of ``ent`` the principal may see (``write``: may change). None = all rows."""
    name = ent.name
    if p.level == "platform":
        if name in policy.PLATFORM_OWNER_NULL:
            # the platform's own rows only (e.g. anti-flood bans; brands list their brute-force bans)
            bf = ent.fields["brand"]
            assert bf.column
            return ent.table.c[bf.column].is_(None)
        return None
    if p.level == "brand" and name in policy.BRAND_VIA:
        if write:
            return false()
        link_name, link_field = policy.BRAND_VIA[name]
        link = ENTITY[link_name]
        lf, bf = link.fields[link_field], link.fields["brand"]
        assert lf.column and bf.column
        return ent.table.c.id.in_(select(link.table.c[lf.column]).where(link.table.c[bf.column] == p.brand_id))
    if name in policy.GLOBAL:
        return None if not write else false()
    clause: ColumnElement[bool] | None = None
    if p.level == "brand":
        if ent.brand_path is None:
            return false()
        clause = _path_clause(ent, ent.brand_path, p.brand_id)
    elif p.level == "client":
        if ent.company_path is not None:
            clause = _path_clause(ent, ent.company_path, p.company_id)
            if (ent.brand_path is not None and len(ent.brand_path) == 1 and name in policy.BRAND_OWNED
                    and not write and name in policy.SHARED_WHEN_OWNER_NULL):
                # rows owned by the brand and not assigned to any client (e.g. generic match lists)
                cf = ent.fields["company"]
                assert cf.column
                clause = or_(clause, and_(ent.table.c[cf.column].is_(None),
                                          _path_clause(ent, ent.brand_path, p.brand_id)))
        elif name in policy.CLIENT_VIA:
            if write:
                return false()
            link_name, link_field = policy.CLIENT_VIA[name]
            link = ENTITY[link_name]
            lf, cf = link.fields[link_field], link.fields["company"]
            assert lf.column and cf.column
            clause = ent.table.c.id.in_(select(link.table.c[lf.column]).where(link.table.c[cf.column] == p.company_id))
        elif ent.brand_path is not None:
            if write:
                return false()
            clause = _path_clause(ent, ent.brand_path, p.brand_id)
        else:
            return false()
    elif p.level == "user":
        if ent.user_path is not None:
            clause = _path_clause(ent, ent.user_path, p.user_id)
        elif ent.company_path is not None:
            if write:
                return false()
            clause = _path_clause(ent, ent.company_path, p.company_id)
        else:
            return false()
    if clause is not None and not write and name in policy.SHARED_WHEN_OWNER_NULL and ent.brand_path:
        nc = _null_owner_clause(ent, ent.brand_path)
        if nc is not None:
            clause = or_(clause, nc)
    return clause


def check_privilege(conn: Connection, p: Principal, res: Resource, op: str) -> None:
    """Restricted administrators (spec 19) need an explicit privilege per resource."""
    if p.admin_id is None:
        return
    a = ENTITY["Administrator"].table
    admin = conn.execute(select(a.c.restricted, a.c.active).where(a.c.id == p.admin_id)).first()
    if admin is None or not admin.active:
        raise ApiError(401, "This administrator no longer exists or is disabled")
    if not admin.restricted:
        return
    rel = ENTITY["AdministratorRelPublicEntity"].table
    pe = ENTITY["PublicEntity"].table
    row = conn.execute(
        select(rel).join(pe, pe.c.id == rel.c.publicEntityId)
        .where(rel.c.administratorId == p.admin_id, pe.c.iden == res.name)
    ).first()
    if row is None or not row._mapping[PRIV[op]]:
        raise ApiError(403, f"Access denied: no {PRIV[op]} privilege on {res.name}")


# ---------------------------------------------------------------------------------------------
# values

# Integers are stored in SQL INTEGER columns (PostgreSQL's int4; ids too): a value outside this
# range can be neither stored nor matched, and Python ints beyond 64 bits overflow SQLite's driver.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Numeric(20, 4): 16 digits before the decimal point.
NUMBER_LIMIT = Decimal(10) ** 16
_INT_TEXT = re.compile(r"[-+]?\d{1,20}")


def check_text(path: str, v: str) -> None:
    """Text that the databases can store: valid Unicode (no lone surrogate) and no NUL."""
    if "\x00" in v:
        raise invalid(path, "This value must not contain NUL characters.")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise invalid(path, "This value is not valid Unicode text.") from e


def as_int(path: str, v: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """One integer of a request: a JSON integer or a string of digits (query strings and forms
    carry only text). Floats (even 1.0) and booleans are refused, as is anything the INTEGER
    columns cannot hold. Used for body fields, references, path ids and query parameters alike."""
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise invalid(path, "This value should be of type integer.")
    if isinstance(v, str):
        if not _INT_TEXT.fullmatch(v.strip()):
            raise invalid(path, "This value should be of type integer.")
        v = int(v)
    lo = INT_MIN if minimum is None else max(minimum, INT_MIN)
    hi = INT_MAX if maximum is None else min(maximum, INT_MAX)
    if v < lo:
        raise invalid(path, f"This value should be greater than or equal to {lo}.")
    if v > hi:
        raise invalid(path, f"This value should be less than or equal to {hi}.")
    return v


def to_json_value(f: FieldDef, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return datetimes.format_datetime(v, CURRENT_TZ.get())
    if isinstance(v, dt.date):
        return datetimes.format_date(v)
    if isinstance(v, dt.time):
        return datetimes.format_time(v)
    return v


def parse_scalar(f: FieldDef, path: str, v: Any) -> Any:
    """Check and convert one input value; raise a 400 naming the field."""
    if v is None:
        return None
    if f.type == "date-time" and v == "CURRENT_TIMESTAMP" and v == f.default:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    t = f.type
    if t == "integer":
        v = as_int(path, v, minimum=None if f.minimum is None else int(f.minimum),
                   maximum=None if f.maximum is None else int(f.maximum))
    elif t == "boolean":
        if isinstance(v, bool):
            pass
        elif v in (0, 1, "0", "1", "true", "false"):
            v = v in (1, "1", "true")
        else:
            raise invalid(path, "This value should be of type boolean.")
    elif t == "number":
        if isinstance(v, bool):
            raise invalid(path, "This value should be of type number.")
        try:
            v = Decimal(str(v))
        except InvalidOperation as e:
            raise invalid(path, "This value should be of type number.") from e
        if not v.is_finite():
            raise invalid(path, "This value should be a finite number.")
        if abs(v) >= NUMBER_LIMIT:
            raise invalid(path, f"This value should be less than {NUMBER_LIMIT:f} in absolute value.")
        if f.minimum is not None and v < Decimal(str(f.minimum)):
            raise invalid(path, f"This value should be greater than or equal to {f.minimum}.")
    elif t == "date-time":
        v = _parse_dt(path, v)
    elif t == "date":
        v = _parse_date(path, v)
    elif t == "time":
        try:
            v = datetimes.parse_time(v)
        except datetimes.DateTimeFormatError as e:
            raise invalid(path, f"This value is not a valid time ({datetimes.TIME_HINT}).") from e
    else:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise invalid(path, "This value should be of type string.")
        check_text(path, v)
        if f.max_length is not None and len(v) > f.max_length:
            raise invalid(path, f"This value is too long. It should have {f.max_length} characters or less.")
    if f.enum is not None and str(v) not in f.enum and not (t == "integer" and str(v) in f.enum):
        raise invalid(path, f"The value you selected is not a valid choice ({', '.join(f.enum)}).")
    return v


def path_id(ident: Any, name: str = "id") -> int:
    """The ``{id}`` of an item path: not a number is no such item (404); a number no row can
    have is a 400 naming the parameter."""
    text = str(ident).strip()
    if not re.fullmatch(r"[-+]?\d+", text):
        raise not_found()
    if len(text) > 20:
        raise invalid(name, f"This value should be less than or equal to {INT_MAX}.")
    return as_int(name, text)


def _parse_date(path: str, v: Any) -> dt.date:
    """Calendar dates carry no time of day: never shifted between timezones."""
    try:
        return datetimes.parse_date(v)
    except datetimes.DateTimeFormatError as e:
        raise invalid(path, f"This value is not a valid date ({datetimes.DATE_HINT}).") from e


def _parse_dt(path: str, v: Any) -> dt.datetime:
    """Stored in UTC; without an offset the value is in the request's timezone."""
    try:
        return datetimes.parse_datetime(v, CURRENT_TZ.get())
    except datetimes.DateTimeFormatError as e:
        raise invalid(path, f"This value is not a valid datetime ({datetimes.DATETIME_HINT}).") from e


# ---------------------------------------------------------------------------------------------
# reading


class Engine:
    """Serves the CRUD operations of every resource of one level."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.resources = resources_for(level)
        self.by_path = {r.path: r for r in self.resources.values() if r.ops}

    # -- serialization
    def row_to_dict(self, conn: Connection, res: Resource, row: Any, fields: Iterable[str], *,
                    expand: bool = False, hidden: bool | None = None) -> dict[str, Any]:
        m = row._mapping
        out: dict[str, Any] = {}
        hide_billing = self.level == "client" and hidden is not None and hidden
        for name in fields:
            f = res.fdef(name)
            if f is None:
                continue
            if ((res.name, name) in policy.GOD_ONLY and not CURRENT_GOD.get()) or (
                    hide_billing and (res.name, name) in policy.BILLING_DETAIL_FIELDS):
                out[name] = None
            elif (res.name, name) in policy.PASSWORD_FIELDS:
                out[name] = "*****" if m[f.column] else None
            elif f.kind in ("scalar", "json"):
                assert f.column
                out[name] = to_json_value(f, m[f.column])
            elif f.kind == "ref":
                assert f.column and f.target
                v = m[f.column]
                if expand and v is not None:
                    out[name] = self.embedded(conn, f.target, v)
                else:
                    out[name] = v
            elif f.kind == "group":
                out[name] = {k: to_json_value(mf, m[mf.column]) for k, mf in f.members.items() if mf.column}
            elif f.kind == "m2m":
                out[name] = self.m2m_ids(conn, res.name, name, m["id"])
            elif f.kind == "computed":
                fn = COMPUTED.get((res.name, name))
                out[name] = fn(conn, row) if fn else None
        out["id"] = m["id"]
        # id first, like IvozProvider
        return {"id": out.pop("id"), **out} if "id" in out else out

    def embedded(self, conn: Connection, target: str, ident: int) -> Any:
        tres = self.resources.get(target)
        ent = ENTITY[target]
        row = conn.execute(select(ent.table).where(ent.table.c.id == ident)).first()
        if row is None:
            return None
        fields = tres.simple if tres and tres.simple else ()
        if tres is None:
            tres = Resource(self.level, ent, (), (), (), (), (), ())
        return self.row_to_dict(conn, tres, row, fields)

    def m2m_ids(self, conn: Connection, ent: str, fname: str, ident: int) -> list[int]:
        mm = policy.M2M[(ent, fname)]
        rel = ENTITY[mm.rel]
        lcol, rcol = rel.fields[mm.local].column, rel.fields[mm.remote].column
        assert lcol and rcol
        rows = conn.execute(select(rel.table.c[rcol]).where(rel.table.c[lcol] == ident).order_by(rel.table.c.id))
        return [r[0] for r in rows]

    # -- queries
    def base_select(self, res: Resource, p: Principal) -> Select[Any]:
        q = select(res.table)
        clause = scope_clause(res.ent, p)
        if clause is not None:
            q = q.where(clause)
        return q

    @staticmethod
    def billing_hidden(conn: Connection, p: Principal) -> bool:
        """Client administrators see billing details only when their brand shows them."""
        if p.level not in ("client", "user") or p.company_id is None:
            return False
        c = ENTITY["Company"].table
        return not conn.execute(select(c.c.showInvoices).where(c.c.id == p.company_id)).scalar()

    def check_billing_entity(self, conn: Connection, res: Resource, p: Principal) -> None:
        if res.name in policy.BILLING_DETAIL_ENTITIES and self.billing_hidden(conn, p):
            raise ApiError(403, "Billing details are not displayed to this client")

    def fetch(self, conn: Connection, res: Resource, p: Principal, ident: Any, write: bool = False) -> Any:
        ident = path_id(ident)
        q = select(res.table).where(res.table.c.id == ident)
        clause = scope_clause(res.ent, p, write=write)
        if clause is not None:
            q = q.where(clause)
        row = conn.execute(q).first()
        if row is None:
            if write and conn.execute(self.base_select(res, p).where(res.table.c.id == ident)).first() is not None:
                raise ApiError(403, "Access denied: this row is read-only at this level")
            raise not_found()
        return row

    # -- writes
    def parse_body(self, conn: Connection, res: Resource, p: Principal, body: Any, op: str
                   ) -> tuple[dict[str, Any], dict[str, list[int]]]:
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        values: dict[str, Any] = {}
        m2m: dict[str, list[int]] = {}
        writable = set(res.write)
        parents = {path[0] for path in (res.ent.brand_path, res.ent.company_path) if path}
        for name, raw in body.items():
            if name not in writable or ((res.name, name) in policy.GOD_ONLY and not p.is_global_operator):
                continue  # read-only or unknown at this level: ignored, as IvozProvider does
            f = res.fdef(name)
            if f is None or f.kind == "computed":
                continue
            if f.kind == "scalar":
                assert f.column
                values[f.column] = parse_scalar(f, name, raw)
                if (res.name, name) in policy.PASSWORD_FIELDS:
                    if not raw or raw == "*****":
                        del values[f.column]  # empty, or sent back as read: keep the current one
                    else:
                        values[f.column] = hash_password(values[f.column])
            elif f.kind == "json":
                assert f.column
                values[f.column] = raw
            elif f.kind == "ref":
                assert f.column and f.target
                # the row's parent must be writable by the principal, other references readable
                values[f.column] = self.check_ref(conn, p, f, name, raw, write=name in parents)
            elif f.kind == "group":
                if raw is None or f.is_file:
                    continue  # file metadata follows uploads only (polyvox.api.files)
                if not isinstance(raw, dict):
                    raise invalid(name, "This value should be an object.")
                for k, v in raw.items():
                    mf = f.members.get(k)
                    if mf is None or not mf.column:
                        continue
                    values[mf.column] = parse_scalar(mf, f"{name}.{k}", v)
            elif f.kind == "m2m":
                if raw is None:
                    raw = []
                if not isinstance(raw, list):
                    raise invalid(name, "This value should be a list of ids.")
                assert f.target
                ids = []
                for i, v in enumerate(raw):
                    ids.append(self.check_ref(conn, p, FieldDef(name, "ref", target=f.target), f"{name}[{i}]", v))
                m2m[name] = ids
        if op == "create":
            for name in res.required:
                f = res.fdef(name)
                if f is None or name not in writable:
                    continue
                if f.kind == "group":
                    for mf in f.members.values():
                        if mf.column and mf.column not in values and mf.default is not None:
                            values[mf.column] = mf.default
                    continue
                if f.kind in ("scalar", "ref") and f.column and values.get(f.column) is None:
                    if f.kind == "scalar" and f.default is not None and f.column not in values:
                        values[f.column] = parse_scalar(f, name, f.default)
                    else:
                        raise invalid(name, "This value should not be blank.")
            # the entity's defaults for the rest, writable at this level or not (IvozProvider's
            # entity defaults: a DDI created by a brand has recordCalls 'none', not NULL)
            for name, f in res.ent.fields.items():
                if f.kind == "scalar" and f.column and f.column not in values and f.default is not None:
                    values[f.column] = parse_scalar(f, name, f.default)
        else:
            for name in res.required:
                f = res.fdef(name)
                if f is not None and f.kind in ("scalar", "ref") and f.column in values and values[f.column] is None:
                    raise invalid(name, "This value should not be blank.")
        return values, m2m

    def check_ref(self, conn: Connection, p: Principal, f: FieldDef, path: str, raw: Any,
                  write: bool = False) -> int | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, dict) and "id" in raw:
            raw = raw["id"]
        if isinstance(raw, str) and re.fullmatch(r".*/(\d+)", raw):  # IRI
            raw = raw.rsplit("/", 1)[1]
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise invalid(path, "This value should be the id of an existing item.")
        ident = as_int(path, raw)
        assert f.target
        target = ENTITY[f.target]
        q = select(target.table.c.id).where(target.table.c.id == ident)
        clause = scope_clause(target, p, write=write and p.level != "platform")
        if clause is not None:
            q = q.where(clause)
        if conn.execute(q).first() is None:
            raise invalid(path, f"{f.target} #{ident} does not exist or is not accessible"
                                + (" for writing." if write else "."))
        return ident

    def set_owner(self, res: Resource, p: Principal, values: dict[str, Any]) -> None:
        fields = res.ent.fields
        if p.level != "platform" and "brand" in fields and fields["brand"].kind == "ref":
            values["brandId"] = p.brand_id
        if p.level in ("client", "user") and "company" in fields and fields["company"].kind == "ref" \
                and res.name not in policy.COMPANY_NOT_OWNER:
            values["companyId"] = p.company_id
        if p.level == "user" and "user" in fields and fields["user"].kind == "ref" and res.ent.user_path == ("user",):
            values["userId"] = p.user_id

    def create(self, conn: Connection, res: Resource, p: Principal, body: Any) -> Any:
        values, m2m = self.parse_body(conn, res, p, body, "create")
        self.set_owner(res, p, values)
        return self.persist(conn, res, p, None, values, m2m)

    def update(self, conn: Connection, res: Resource, p: Principal, ident: Any, body: Any) -> Any:
        row = self.fetch(conn, res, p, ident, write=True)
        values, m2m = self.parse_body(conn, res, p, body, "update")
        return self.persist(conn, res, p, dict(row._mapping), values, m2m)

    def persist(self, conn: Connection, res: Resource, p: Principal, old: dict[str, Any] | None,
                values: dict[str, Any], m2m: dict[str, list[int]]) -> Any:
        """Write parsed values (a create when ``old`` is None) with the entity's lifecycle hooks,
        uniqueness rules and m2m lists, and bump the configuration version. Returns the row."""
        if old is None:
            ctx = WriteContext(res, conn, p, "create", None, values, m2m)
        else:
            new = {**old, **values}
            self.set_owner_unchanged(old, new)
            ctx = WriteContext(res, conn, p, "update", old, new, m2m, id=old["id"])
        run(PRE_PERSIST, ctx)
        for u in policy.UNIQUE.get(res.name, []):
            check_unique(ctx, u)
        t = res.table
        if old is None:
            ctx.id = int(conn.execute(t.insert().values(**ctx.new)).inserted_primary_key[0])  # type: ignore[index]
        else:
            changed = {k: v for k, v in ctx.new.items() if k != "id" and old.get(k) != v}
            if changed:
                conn.execute(update(t).where(t.c.id == ctx.id).values(**changed))
        assert ctx.id is not None
        self.write_m2m(conn, res, ctx.id, m2m)
        run(POST_PERSIST, ctx)
        bump_version(conn)
        return conn.execute(select(t).where(t.c.id == ctx.id)).first()

    @staticmethod
    def set_owner_unchanged(old: dict[str, Any], new: dict[str, Any]) -> None:
        for col in ("brandId", "companyId"):
            if col in old:
                new[col] = old[col] if new.get(col) is None else new[col]

    def delete(self, conn: Connection, res: Resource, p: Principal, ident: Any) -> None:
        self.remove(conn, res, p, self.fetch(conn, res, p, ident, write=True))

    def remove(self, conn: Connection, res: Resource, p: Principal, row: Any) -> None:
        """Delete a row with the entity's guards, unlinks and cascades."""
        stored = dict(row._mapping)
        ctx = WriteContext(res, conn, p, "delete", stored, dict(stored), id=stored["id"])
        run(PRE_REMOVE, ctx)
        conn.execute(res.table.delete().where(res.table.c.id == ctx.id))
        run(POST_REMOVE, ctx)
        bump_version(conn)

    def write_m2m(self, conn: Connection, res: Resource, ident: int, m2m: dict[str, list[int]]) -> None:
        for fname, ids in m2m.items():
            mm = policy.M2M[(res.name, fname)]
            rel = ENTITY[mm.rel]
            lcol, rcol = rel.fields[mm.local].column, rel.fields[mm.remote].column
            assert lcol and rcol
            current = self.m2m_ids(conn, res.name, fname, ident)
            if current == ids:
                continue
            conn.execute(rel.table.delete().where(rel.table.c[lcol] == ident))
            seen: set[int] = set()
            for i in ids:
                if i in seen:
                    continue
                seen.add(i)
                conn.execute(rel.table.insert().values({lcol: ident, rcol: i}))


def check_unique(ctx: WriteContext, u: policy.Unique) -> None:
    ent = ctx.resource.ent
    t = ent.table
    conds = []
    for fname in u.fields:
        f = ent.fields[fname]
        assert f.column
        v = ctx.new.get(f.column)
        if v is None:
            return
        conds.append(t.c[f.column] == v)
    q = select(t.c.id).where(*conds)
    for scope in u.scope:
        if scope == "brand" and ent.brand_path is not None and "brand" not in ent.fields:
            brand_id = owner_brand(ctx.conn, ent, ctx.new)
            q = q.where(_path_clause(ent, ent.brand_path, brand_id))
        else:
            f = ent.fields[scope]
            assert f.column
            q = q.where(t.c[f.column] == ctx.new.get(f.column)) if ctx.new.get(f.column) is not None \
                else q.where(t.c[f.column].is_(None))
    if ctx.old is not None:
        q = q.where(t.c.id != ctx.old["id"])
    if ctx.conn.execute(q.limit(1)).first() is not None:
        raise invalid(u.fields[0], u.message)


def owner_along(conn: Connection, ent: EntityDef, path: tuple[str, ...] | None, values: dict[str, Any]) -> Any:
    """The owner a (new) row reaches by following an ownership path (``ent.brand_path``,
    ``ent.company_path``) from its column values."""
    if path is None:
        return None
    cur_ent, cur_vals = ent, values
    for i, hop in enumerate(path):
        f = cur_ent.fields[hop]
        assert f.column and f.target
        v = cur_vals.get(f.column)
        if v is None or i == len(path) - 1:
            return v
        cur_ent = ENTITY[f.target]
        row = conn.execute(select(cur_ent.table).where(cur_ent.table.c.id == v)).first()
        if row is None:
            return None
        cur_vals = dict(row._mapping)
    return None


def owner_brand(conn: Connection, ent: EntityDef, values: dict[str, Any]) -> Any:
    return owner_along(conn, ent, ent.brand_path, values)


def owner_company(conn: Connection, ent: EntityDef, values: dict[str, Any]) -> int | None:
    v = owner_along(conn, ent, ent.company_path, values)
    return None if v is None else int(v)


def bump_version(conn: Connection) -> None:
    """Configuration changed: caches elsewhere reload on the next call (ARCHITECTURE §3)."""
    res = conn.execute(update(config_version).where(config_version.c.id == 1)
                       .values(version=config_version.c.version + 1))
    if res.rowcount == 0:
        conn.execute(config_version.insert().values(id=1, version=1))


__all__ = ["Engine", "Resource", "WriteContext", "and_", "func", "true"]
