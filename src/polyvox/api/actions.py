"""Hand-written operations that are not plain CRUD (my/profile, privileges, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.engine import Connection

from polyvox.api.errors import ApiError
from polyvox.db.model import ENTITY

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi


def register(api: LevelApi) -> None:
    api.extra_ops = []

    def add(method: str, path: str, fn: Any, summary: str) -> None:
        api.app.add_api_route(path, fn, methods=[method.upper()])
        api.extra_ops.append({"method": method, "path": path, "spec": {
            "tags": ["Custom"], "summary": summary, "responses": {"200": {"description": "OK"}}}})

    def profile(request: Request) -> JSONResponse:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            out: dict[str, Any] = {"level": p.level, "username": p.username, "restricted": p.restricted}
            if p.brand_id is not None:
                out["brandId"] = p.brand_id
            if p.company_id is not None:
                out["companyId"] = p.company_id
            if p.on_behalf_of:
                out["onBehalfOf"] = p.on_behalf_of
            if p.admin_id is not None:
                a = ENTITY["Administrator"].table
                row = c.execute(select(a).where(a.c.id == p.admin_id)).first()
                if row is not None:
                    out.update(id=row.id, name=row.name, lastname=row.lastname, email=row.email)
            out["acls"] = _acls(c, p.admin_id) if p.restricted else []
            return out

        return JSONResponse(api.run(do))

    from polyvox.api import custom

    custom.register(api, add)

    if api.level != "user":
        add("get", "/my/profile", profile, "Current administrator's profile and privileges")
        bulk = (("grant_all", (True, True, True, True)), ("grant_read_only", (False, True, False, False)),
                ("revoke_all", (False, False, False, False)))
        for action, privs in bulk if "Administrator" in api.engine.resources else ():
            add("post", f"/administrators/{{ident}}/{action}", _grant(api, privs),
                f"{action.replace('_', ' ').capitalize()} on every resource for a restricted administrator")


def _acls(c: Connection, admin_id: int | None) -> list[dict[str, Any]]:
    rel = ENTITY["AdministratorRelPublicEntity"].table
    pe = ENTITY["PublicEntity"].table
    rows = c.execute(select(pe.c.iden, rel.c.create, rel.c.read, rel.c.update, rel.c.delete)
                     .join(pe, pe.c.id == rel.c.publicEntityId).where(rel.c.administratorId == admin_id))
    return [{"iden": r.iden, "create": bool(r.create), "read": bool(r.read), "update": bool(r.update),
             "delete": bool(r.delete)} for r in rows]


def _grant(api: LevelApi, privs: tuple[bool, bool, bool, bool]) -> Any:
    def handler(ident: int, request: Request) -> JSONResponse:
        p = api.principal(request)
        res = api.engine.resources["Administrator"]

        def do(c: Connection) -> dict[str, Any]:
            row = api.engine.fetch(c, res, p, ident, write=True)
            if p.restricted:
                raise ApiError(403, "restricted administrators cannot change privileges")
            level = "client" if row.companyId is not None else "brand" if row.brandId is not None else "platform"
            set_privileges(c, row.id, level, privs)
            return api.engine.row_to_dict(c, res, c.execute(select(res.table).where(res.table.c.id == row.id)).first(),
                                          res.item)

        return JSONResponse(api.run(do))

    return handler


def set_privileges(c: Connection, admin_id: int, level: str, privs: tuple[bool, bool, bool, bool]) -> None:
    rel = ENTITY["AdministratorRelPublicEntity"].table
    pe = ENTITY["PublicEntity"].table
    flag = {"platform": pe.c.platform, "brand": pe.c.brand, "client": pe.c.client}.get(level, pe.c.client)
    ids = [r.id for r in c.execute(select(pe.c.id).where(flag.is_(True)))]
    existing = {r.publicEntityId: r.id for r in c.execute(select(rel.c.id, rel.c.publicEntityId)
                                                            .where(rel.c.administratorId == admin_id))}
    values = dict(zip(("create", "read", "update", "delete"), privs, strict=True))
    for pid in ids:
        if pid in existing:
            c.execute(rel.update().where(rel.c.id == existing[pid]).values(**values))
        else:
            c.execute(rel.insert().values(administratorId=admin_id, publicEntityId=pid, **values))
