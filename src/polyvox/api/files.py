"""File fields: multipart uploads on create/update and downloads at /<resource>/{id}/<field>.

IvozProvider's contract posts such resources as ``multipart/form-data`` with the JSON
representation in a form field named after the resource (``locution``) and each file in
a part named after its field (``OriginalFile``); plain JSON bodies work too (no file).
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile

from polyvox.api.engine import Resource
from polyvox.api.errors import ApiError
from polyvox.db.model import stored_files

MAX_UPLOAD = 64 * 1024 * 1024


def file_fields(res: Resource) -> dict[str, str]:
    """lower-case field name -> field name, for the resource's file fields."""
    return {name.lower(): name for name, f in res.ent.fields.items() if f.is_file}


async def read_body(request: Request, res: Resource) -> tuple[Any, dict[str, tuple[str, str, bytes]]]:
    """The JSON body and the uploaded files (field -> (filename, mime type, content))."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        from polyvox.api.app import _json_body

        return await _json_body(request), {}
    form = await request.form()
    files: dict[str, tuple[str, str, bytes]] = {}
    body: Any = {}
    by_lower = file_fields(res)
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            fname = by_lower.get(key.lower())
            if fname is None:
                raise ApiError(400, f"{res.name} has no file field '{key}'", field=key)
            content = await value.read()
            if len(content) > MAX_UPLOAD:
                raise ApiError(413, f"file larger than {MAX_UPLOAD} bytes", field=key)
            mime = value.content_type or mimetypes.guess_type(value.filename or "")[0] or "application/octet-stream"
            files[fname] = (value.filename or fname, mime, content)
        elif key.lower() == res.name.lower() or key in ("resource", "data"):
            try:
                body = json.loads(value)
            except ValueError as e:
                raise ApiError(400, f"Syntax error in the JSON of form field '{key}': {e}", field=key) from e
    if not isinstance(body, dict):
        raise ApiError(400, "The resource form field must hold a JSON object.", field=res.name)
    return {k: v for k, v in body.items() if not k.startswith("@")}, files


def store(conn: Connection, res: Resource, row_id: int, files: dict[str, tuple[str, str, bytes]]) -> None:
    for fname, (filename, mime, content) in files.items():
        f = res.ent.fields[fname]
        key = (stored_files.c.entity == res.name) & (stored_files.c.rowId == row_id) & (stored_files.c.field == fname)
        if conn.execute(select(stored_files.c.id).where(key)).first() is None:
            conn.execute(stored_files.insert().values(entity=res.name, rowId=row_id, field=fname, content=content))
        else:
            conn.execute(update(stored_files).where(key).values(content=content))
        cols = {f.members["fileSize"].column: len(content), f.members["mimeType"].column: mime[:80],
                f.members["baseName"].column: filename[:255]}
        conn.execute(update(res.table).where(res.table.c.id == row_id).values(**cols))


def load(conn: Connection, res: Resource, row: Any, fname: str) -> tuple[bytes, str, str]:
    f = res.ent.fields[fname]
    content = conn.execute(select(stored_files.c.content).where(
        (stored_files.c.entity == res.name) & (stored_files.c.rowId == row.id) & (stored_files.c.field == fname))).scalar()
    if content is None:
        raise ApiError(404, f"{res.name} #{row.id} has no {fname}")
    m = row._mapping
    return (bytes(content), m[f.members["mimeType"].column] or "application/octet-stream",
            m[f.members["baseName"].column] or fname)
