"""Writes without an HTTP request, through the same engine and lifecycle hooks as the API.

The ``polyvox`` command, reference and demo seeding and the rules' own cascades write with a
``Writer``: the body is API-shaped (field names, relation ids, nested value objects), every
field of the entity is writable, and the global operator's scope applies. The entity's
``pre_persist``/``post_persist``/``pre_remove``/``post_remove`` hooks, its uniqueness rules and
the configuration-version bump run exactly as for an API request.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api import rules  # noqa: F401  (registers every entity's hooks)
from polyvox.api.auth import Principal
from polyvox.api.engine import Engine, Resource
from polyvox.api.errors import not_found
from polyvox.db.model import ENTITY

SYSTEM = Principal(level="platform", username="system")


@cache
def system_resource(entity: str) -> Resource:
    """The entity with every stored field writable and nothing demanded by the contract."""
    ent = ENTITY[entity]
    names = tuple(n for n, f in ent.fields.items() if f.kind != "computed" and n != "id")
    return Resource(level="system", ent=ent, ops=("list", "get", "create", "update", "delete"), collection=names,
                    item=names, write=names, required=(), simple=())


class _SystemEngine(Engine):
    def __init__(self) -> None:  # no level: resources are built on demand by system_resource
        self.level = "platform"
        self.resources = {}
        self.by_path = {}


_ENGINE = _SystemEngine()


def _api_shaped(entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """Accept ``companyId`` for ``company`` as the seeding code and the CLI write it."""
    fields = ENTITY[entity].fields
    out = {}
    for k, v in body.items():
        if k not in fields and k.endswith("Id") and k[:-2] in fields:
            k = k[:-2]
        out[k] = v
    return out


class Writer:
    def __init__(self, conn: Connection, principal: Principal = SYSTEM) -> None:
        self.conn = conn
        self.principal = principal

    def create(self, entity: str, id: int | None = None, **body: Any) -> int:
        res = system_resource(entity)
        values, m2m = _ENGINE.parse_body(self.conn, res, self.principal, _api_shaped(entity, body), "create")
        if id is not None:
            values["id"] = id
        return int(_ENGINE.persist(self.conn, res, self.principal, None, values, m2m).id)

    def update(self, entity: str, ident: int, **body: Any) -> None:
        res = system_resource(entity)
        row = self.conn.execute(select(res.table).where(res.table.c.id == ident)).first()
        if row is None:
            raise not_found()
        values, m2m = _ENGINE.parse_body(self.conn, res, self.principal, _api_shaped(entity, body), "update")
        _ENGINE.persist(self.conn, res, self.principal, dict(row._mapping), values, m2m)

    def delete(self, entity: str, ident: int) -> None:
        res = system_resource(entity)
        row = self.conn.execute(select(res.table).where(res.table.c.id == ident)).first()
        if row is not None:
            _ENGINE.remove(self.conn, res, self.principal, row)

    def get(self, entity: str, ident: int) -> dict[str, Any] | None:
        t = ENTITY[entity].table
        row = self.conn.execute(select(t).where(t.c.id == ident)).first()
        return dict(row._mapping) if row is not None else None

    def ids(self, entity: str, **where: Any) -> list[int]:
        """Ids of the rows whose columns (``companyId=...``) have these values."""
        t = ENTITY[entity].table
        q = select(t.c.id).where(*[t.c[k].is_(None) if v is None else t.c[k] == v for k, v in where.items()])
        return [int(r[0]) for r in self.conn.execute(q.order_by(t.c.id))]


__all__ = ["SYSTEM", "Writer", "system_resource"]
