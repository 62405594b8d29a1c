"""Destination rate CSV import through the contract's own operations (spec 9.4.3).

``POST /destination_rate_groups`` and ``PUT /destination_rate_groups/{id}`` accept, as in
IvozProvider, ``multipart/form-data`` with the JSON representation in the ``destinationRateGroup``
field (``importerArguments`` inside it) and the CSV in the ``file`` part. With a file, the group is
written, the file stored and the group marked ``waiting`` in one transaction; the import itself
runs in the background (:mod:`polyvox.workers.rate_import`: ``waiting`` -> ``inProgress`` ->
``imported`` | ``error`` with ``lastExecutionError``). ``GET /destination_rate_groups/{id}/file``
(generic download) returns the last uploaded file; ``GET /destination_rate_groups/{id}/import``
(Polyvox extension) shows the progress and counters of the last import.

These two handlers are registered before the engine's generic create/update routes (custom
operations come first), so they take the requests of this resource; everything else (validation,
tenancy, response shape) is the engine's. Rules and decisions: docs/billing-import.md.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from polyvox.api import files
from polyvox.api.custom.common import Add, ok, resource, route
from polyvox.api.engine import Resource, check_privilege
from polyvox.api.errors import invalid
from polyvox.db.rate_imports import destination_rate_imports
from polyvox.workers import rate_import as job

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

ENTITY_NAME = "DestinationRateGroup"


def register(api: LevelApi, add: Add) -> None:
    if api.level != "brand":
        return
    res = api.engine.resources.get(ENTITY_NAME)
    if res is None:
        return
    base = "/" + res.path
    if "create" in res.ops:
        api.app.add_api_route(base, _write(api, res, create=True), methods=["POST"])
    if "update" in res.ops:
        api.app.add_api_route(base + "/{ident}", _write(api, res, create=False), methods=["PUT"])
    _progress(api, add, res)


def _start(api: LevelApi, group_id: int) -> None:
    """Runs the import now, in the background (the worker role picks it up too if this process dies)."""
    threading.Thread(target=job.run_import, args=(api.db, group_id), name=f"rate-import-{group_id}",
                     daemon=True).start()


def _write(api: LevelApi, res: Resource, create: bool) -> Any:
    from polyvox.api.app import _format, _in_thread

    async def handle(request: Request, ident: str | None) -> Response:
        p = api.principal(request)
        body, uploads = await files.read_body(request, res)
        given = "importerArguments" in body
        raw = body.pop("importerArguments", None)
        try:
            args = job.importer_arguments(raw)
        except job.ArgumentsError as e:
            raise invalid(e.field, str(e)) from e
        fmt = _format(request, allow_csv=False)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, res, "create" if create else "update")
            row = api.engine.create(c, res, p, body) if create else api.engine.update(c, res, p, ident, body)
            if given or uploads:
                c.execute(update(res.table).where(res.table.c.id == row.id).values(
                    importerArgumentsColumns=json.dumps(list(args.columns)),
                    importerArgumentsIgnoreFirst=args.ignore_first, importerArgumentsDelimiter=",",
                    importerArgumentsEnclosure='"', importerArgumentsScape="\\"))
            if uploads:
                files.store(c, res, row.id, uploads)
                job.queue(c, row.id, next(iter(uploads.values()))[0])
            row = c.execute(select(res.table).where(res.table.c.id == row.id)).first()
            return api.engine.row_to_dict(c, res, row, res.item or res.write)

        item = await _in_thread(api.run, do)
        if uploads:
            _start(api, int(item["id"]))
        return api.render_item(res, item, fmt, status=201 if create else 200)

    if create:
        async def create_handler(request: Request) -> Response:
            return await handle(request, None)

        return create_handler

    async def update_handler(ident: str, request: Request) -> Response:
        return await handle(request, ident)

    return update_handler


PROGRESS = {"type": "object", "properties": {
    "status": {"type": "string"}, "fileName": {"type": "string"}, "totalLines": {"type": "integer"},
    "processedLines": {"type": "integer"}, "destinationsAdded": {"type": "integer"},
    "ratesAdded": {"type": "integer"}, "ratesUpdated": {"type": "integer"}, "queuedAt": {"type": "string"},
    "startedAt": {"type": "string"}, "finishedAt": {"type": "string"}, "error": {"type": "string"}}}


def _progress(api: LevelApi, add: Add, res: Resource) -> None:
    def handler(ident: str, request: Request) -> Response:
        p = api.principal(request)

        def do(c: Connection) -> dict[str, Any]:
            check_privilege(c, p, resource(api, ENTITY_NAME), "read")
            group = api.engine.fetch(c, res, p, ident)
            j = destination_rate_imports
            try:
                row = c.execute(select(j).where(j.c.destinationRateGroupId == group.id)).first()
            except Exception:  # table not created yet: nothing was ever imported here
                row = None
            out: dict[str, Any] = {"status": group.status}
            if row is not None:
                for k in ("fileName", "totalLines", "processedLines", "destinationsAdded", "ratesAdded",
                          "ratesUpdated", "error"):
                    out[k] = getattr(row, k)
                for k in ("queuedAt", "startedAt", "finishedAt"):
                    v = getattr(row, k)
                    out[k] = v.strftime("%Y-%m-%d %H:%M:%S") if v is not None else None
            return out

        return JSONResponse(api.run(do))

    route(api, add, "get", f"/{res.path}/{{ident}}/import", handler,
          "Progress of the last rate CSV import (Polyvox extension)",
          responses=ok("Import progress", PROGRESS, errors=("404",)))
