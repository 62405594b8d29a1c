"""Row helpers of the reference data loader (API-shaped values to columns)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from polyvox.db.contract_decl import EXPOSURE
from polyvox.db.model import ENTITY


def _fit(f: Any, value: Any, fit: bool) -> Any:
    if fit and isinstance(value, str) and f.max_length and len(value) > f.max_length:
        return value[: f.max_length - 1] + "…"
    return value


def columns(entity: str, data: dict[str, Any], fit: bool = False) -> dict[str, Any]:
    """API-shaped values (nested groups, relation ids) to the entity's columns.

    ``fit``: shorten reference-data strings longer than the contract's column length
    (a few CLDR timezone labels and currency names exceed IvozProvider's lengths).
    """
    ent = ENTITY[entity]
    out: dict[str, Any] = {}
    for name, value in data.items():
        f = ent.fields.get(name)
        if f is None:
            if name.endswith("Id") and name[:-2] in ent.fields:
                f = ent.fields[name[:-2]]
            else:
                raise KeyError(f"{entity} has no field {name}")
        if f.kind == "group":
            for k, v in (value or {}).items():
                out[f.members[k].column] = _fit(f.members[k], v, fit)  # type: ignore[index]
        elif f.kind in ("scalar", "ref", "json"):
            out[f.column] = _fit(f, value, fit)  # type: ignore[index]
    return out


def insert(conn: Connection, entity: str, **data: Any) -> int:
    t = ENTITY[entity].table
    return int(conn.execute(t.insert().values(**columns(entity, data))).inserted_primary_key[0])  # type: ignore[index]


def find(conn: Connection, entity: str, **where: Any) -> int | None:
    t = ENTITY[entity].table
    cols = columns(entity, where)
    q = select(t.c.id).where(*[t.c[k] == v for k, v in cols.items()])
    return conn.execute(q.limit(1)).scalar()


def is_empty(conn: Connection) -> bool:
    t = ENTITY["Country"].table
    return (conn.execute(select(func.count()).select_from(t)).scalar() or 0) == 0


def load_public_entities(conn: Connection) -> None:
    """One PublicEntity per resource, for restricted administrators' privileges (spec 19)."""
    for name in sorted(ENTITY):
        levels = {lvl: bool(EXPOSURE[lvl].get(name, {}).get("ops")) for lvl in ("platform", "brand", "client")}
        if not any(levels.values()):
            continue
        if find(conn, "PublicEntity", iden=name) is None:
            insert(conn, "PublicEntity", iden=name, fqdn=f"Polyvox\\{name}", platform=levels["platform"],
                   brand=levels["brand"], client=levels["client"],
                   name={"en": name, "es": name, "ca": name, "it": name, "eu": name})
