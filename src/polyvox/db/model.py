"""The relational model, built from the resource declarations.

Every resource of the API contract is one table named after its API path
(``companies``, ``hunt_group_members``...). Columns keep IvozProvider's camelCase
names: scalar fields by their API name, relations as ``<field>Id`` (integer foreign
key), embedded value objects flattened as ``<group><Member>`` (``invoicingNif``,
``nameEn``). Many-to-many list fields live in their relation tables. The same model
runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Time,
)

from polyvox.db import policy
from polyvox.db.contract_decl import ENTITIES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

MONEY = Numeric(20, 4)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


@dataclass
class FieldDef:
    """One API field of an entity and how it is stored."""

    name: str
    kind: str  # scalar | ref | group | m2m | computed | json
    type: str = "string"  # string | integer | boolean | number | date-time | date | time
    max_length: int | None = None
    enum: tuple[str, ...] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    target: str | None = None  # ref / m2m target entity
    members: dict[str, FieldDef] = field(default_factory=dict)  # group members
    column: str | None = None  # storage column (scalar, ref)

    def python_default(self) -> Any:
        return self.default

    @property
    def is_file(self) -> bool:
        return self.kind == "group" and {"fileSize", "mimeType", "baseName"} <= set(self.members)


@dataclass
class EntityDef:
    name: str
    path: str
    table: Table
    fields: dict[str, FieldDef]
    brand_path: tuple[str, ...] | None = None  # ref hops leading to the owning brand id
    company_path: tuple[str, ...] | None = None
    user_path: tuple[str, ...] | None = None


ENTITY: dict[str, EntityDef] = {}


def _scalar_def(name: str, spec: dict[str, Any]) -> FieldDef:
    typ = spec.get("format") if spec.get("format") in ("date-time", "date", "time") else spec.get("type", "string")
    if typ == "number" or spec.get("format") == "float":
        typ = "number"
    enum = tuple(str(v) for v in spec["enum"]) if "enum" in spec else None
    return FieldDef(
        name=name, kind="scalar", type=typ or "string", max_length=spec.get("maxLength"), enum=enum,
        default=spec.get("default"), minimum=spec.get("minimum"), maximum=spec.get("maximum"),
    )


def _sql_type(f: FieldDef) -> Any:
    if f.type == "integer":
        return Integer()
    if f.type == "boolean":
        return Boolean()
    if f.type == "number":
        return MONEY
    if f.type == "date-time":
        return DateTime()
    if f.type == "date":
        return Date()
    if f.type == "time":
        return Time()
    if f.max_length and f.max_length <= 4000:
        return String(f.max_length)
    return Text()


def _table_name(path: str) -> str:
    return path


def build() -> None:
    if ENTITY:
        return
    decls: dict[str, dict[str, Any]] = {name: dict(d) for name, d in ENTITIES.items()}
    # relation entities needed internally
    for name, refs in policy.EXTRA_ENTITIES.items():
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        decls[name] = {"path": "rel_" + snake, "fields": {f: {"kind": "ref", "target": t} for f, t in refs.items()}}
    # owner columns set from the token
    for name in policy.CLIENT_OWNED:
        decls[name]["fields"] = {**decls[name]["fields"]}
        decls[name]["fields"].setdefault("company", {"kind": "ref", "target": "Company"})
    for name in policy.BRAND_OWNED:
        decls[name]["fields"] = {**decls[name]["fields"]}
        decls[name]["fields"].setdefault("brand", {"kind": "ref", "target": "Brand"})
    for name, extra in policy.EXTRA_COLUMNS.items():
        for fname, (typ, length) in extra.items():
            if typ.startswith("ref:"):
                decls[name]["fields"].setdefault(fname, {"kind": "ref", "target": typ[4:]})
            else:
                decls[name]["fields"].setdefault(fname, {"kind": "scalar", "type": typ, "maxLength": length})

    for name, decl in sorted(decls.items()):
        cols: list[Any] = [Column("id", Integer, primary_key=True, autoincrement=True)]
        fdefs: dict[str, FieldDef] = {}
        for fname, spec in sorted(decl["fields"].items()):
            kind = spec.get("kind", "scalar")
            if (name, fname) in policy.COMPUTED or kind == "virtual":
                fdefs[fname] = FieldDef(fname, "computed")
                continue
            if kind == "array" or (name, fname) in policy.M2M:
                m2m = policy.M2M.get((name, fname))
                if m2m:
                    fdefs[fname] = FieldDef(fname, "m2m", target=m2m.target)
                else:
                    fdefs[fname] = FieldDef(fname, "json", column=fname)
                    cols.append(Column(fname, JSON))
                continue
            if kind == "ref":
                target = spec["target"]
                ttable = _table_name(decls[target]["path"])
                # owners and parents cascade; any other reference is cleared when its target goes
                ondelete = "CASCADE" if spec.get("required") or fname in ("company", "brand") else "SET NULL"
                col = fname + "Id"
                cols.append(Column(col, Integer, ForeignKey(f"{ttable}.id", ondelete=ondelete), nullable=True))
                cols.append(Index(None, col))
                fdefs[fname] = FieldDef(fname, "ref", type="integer", target=target, column=col)
                continue
            if kind == "group":
                g = FieldDef(fname, "group")
                for mname, mspec in sorted(spec.get("members", {}).items()):
                    m = _scalar_def(mname, mspec)
                    m.column = fname + cap(mname)
                    cols.append(Column(m.column, _sql_type(m), nullable=True))
                    g.members[mname] = m
                fdefs[fname] = g
                continue
            f = _scalar_def(fname, spec)
            f.column = fname
            cols.append(Column(fname, _sql_type(f), nullable=True))
            fdefs[fname] = f
        table = Table(_table_name(decl["path"]), metadata, *cols)
        ENTITY[name] = EntityDef(name, decl["path"], table, fdefs)

    # ownership paths: breadth-first along relations
    for ent in ENTITY.values():
        ent.company_path = _owner_path(ent.name, "Company")
        direct_brand = "brand" in ent.fields and ent.fields["brand"].kind == "ref"
        if ent.company_path is not None and ent.company_path != () and not direct_brand:
            # rows below a client belong to that client's brand; stop at the first parent with
            # its own brand (a brand-level match list or administrator has no client)
            ent.brand_path = _brand_along(ent, ent.company_path)
        else:
            ent.brand_path = _owner_path(ent.name, "Brand")
        ent.user_path = _owner_path(ent.name, "User", max_depth=2)


def _brand_along(ent: EntityDef, company_path: tuple[str, ...]) -> tuple[str, ...]:
    cur = ent
    for i, hop in enumerate(company_path):
        target = cur.fields[hop].target
        assert target is not None
        cur = ENTITY[target]
        f = cur.fields.get("brand")
        if f is not None and f.kind == "ref":
            return (*company_path[: i + 1], "brand")
    return (*company_path, "brand")


_PREFERRED = ("company", "brand", "user")


def _owner_path(name: str, owner: str, max_depth: int = 4) -> tuple[str, ...] | None:
    if name == owner:
        return ()
    via = policy.OWNER_PARENT.get(name)
    if via is not None and owner != "User":
        parent = ENTITY[name].fields[via].target
        assert parent is not None
        rest = _owner_path(parent, owner, max_depth - 1)
        return None if rest is None else (via, *rest)
    frontier: list[tuple[str, tuple[str, ...]]] = [(name, ())]
    seen = {name}
    for _ in range(max_depth):
        nxt: list[tuple[str, tuple[str, ...]]] = []
        for ent, path in frontier:
            refs = [f for f in ENTITY[ent].fields.values() if f.kind == "ref"]
            refs.sort(key=lambda f: (f.name not in _PREFERRED, f.name))
            if ent in policy.COMPANY_NOT_OWNER:
                refs = [f for f in refs if f.name != "company"]
            for f in refs:
                if f.target == owner and (owner != "Brand" or f.name == "brand") and (
                    owner != "Company" or f.name == "company"
                ) and (owner != "User" or f.name == "user"):
                    return (*path, f.name)
            for f in refs:
                # follow only ownership-like relations (the parent of a child row)
                assert f.target is not None
                if f.target in seen or f.target in policy.GLOBAL or f.target in (
                    "Country", "Language", "Timezone", "Currency"
                ):
                    continue
                if f.name in ("company", "brand") or _is_parent(ent, f):
                    seen.add(f.target)
                    nxt.append((f.target, (*path, f.name)))
        frontier = nxt
    return None


def _is_parent(ent: str, f: FieldDef) -> bool:
    """A relation that names the row's parent (a child table's owner)."""
    spec = ENTITIES.get(ent, {}).get("fields", {}).get(f.name, {})
    if ent in policy.EXTRA_ENTITIES:
        return True
    return bool(spec.get("required"))


build()


def new_token_version() -> str:
    """A fresh random token version (see ``TOKEN_VERSION``)."""
    return secrets.token_hex(16)


# Token version of an account (administrators and users): a random value that every JWT and
# refresh token of the account carries and that is checked on every request. It changes when
# the account is deleted (the row goes), deactivated or gets a new password, so that its
# tokens die and a later account with the same id does not revive them. Not an API field.
TOKEN_VERSION = "tokenVersion"
for _entity in ("Administrator", "User"):
    ENTITY[_entity].table.append_column(
        Column(TOKEN_VERSION, String(32), nullable=False, default=new_token_version))

# Failed logins per account name and per client address (polyvox.api.auth.LoginThrottle). In
# the database so that every API process of an installation counts the same attempts.
login_throttle = Table(
    "login_throttle", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # account | address
    Column("subject", String(255), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("windowStart", DateTime, nullable=False),
    Column("lockedUntil", DateTime, nullable=True),
    Index("ix_login_throttle_scope_subject", "scope", "subject", unique=True),
)

# JWT refresh tokens (one row per issued refresh token).
refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("refreshToken", String(128), nullable=False, unique=True),
    Column("username", String(255), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("valid", DateTime, nullable=False),
)

# Files of file fields (locutions, music on hold, logos, recordings, invoices...): one row
# per (entity, row, field). Kept in the database so that every API and application server
# host of a distributed install sees the same files without shared storage.
stored_files = Table(
    "stored_files", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(64), nullable=False),
    Column("rowId", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Index("ix_stored_files_entity_row_field", "entity", "rowId", "field", unique=True),
)

# Configuration version: bumped in the same transaction as any configuration change, so
# that caches in proxies and application servers know when to reload (ARCHITECTURE §3).
config_version = Table(
    "config_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False, default=0),
)


_CONTROLS = dict.fromkeys(range(0x20), "\ufffd")


def fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every string storable: control characters (a NUL a caller escaped into the
    Request-URI user, ``12%003``, which PostgreSQL text refuses) become U+FFFD, and every string
    is cut to its column's length (a 20,000-digit Request-URI user)."""
    out = dict(row)
    for key, value in row.items():
        if not isinstance(value, str):
            continue
        if not value.isprintable():
            value = value.translate(_CONTROLS)
        length = getattr(table.c[key].type, "length", None) if key in table.c else None
        out[key] = value[:length] if length and len(value) > length else value
    return out


# State written by the roles, on the same metadata so that migrations carry it: the proxies'
# registrations and call records, the trunks agent's carrier-server and DDI-provider-registration
# status, the application servers' active calls and call journal, the worker's billing
# bookkeeping and rate imports. Declared in storage (docs/layers.md): the model imports no role.
from polyvox.db import (  # noqa: E402, F401
    agent_state,
    appserver_state,
    billing_state,
    cdr,
    location,
    rate_imports,
)

# Ids are never reused: on SQLite a table without AUTOINCREMENT hands the id of a deleted last
# row to the next insert, and anything that kept the old id (a token, a log, an integration)
# would then designate the new row. PostgreSQL sequences never go back.
for _table in metadata.tables.values():
    _table.dialect_kwargs["sqlite_autoincrement"] = True
