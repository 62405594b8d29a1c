"""Request bodies and file fields.

The one reader of request bodies for every operation (CRUD and custom): JSON documents, forms
and multipart uploads. A JSON body must say so (``Content-Type: application/json``,
``application/ld+json`` or another ``+json`` type; anything else is a 415), and what it holds
must be storable: at most ``MAX_DEPTH`` levels of nesting, no NaN/Infinity, strings (and keys)
of valid Unicode without NUL characters (a lone surrogate ``"\ud800"`` cannot be encoded for the
database; PostgreSQL refuses NUL). Each refusal is a 400 naming where it is.

File fields: IvozProvider's contract posts such resources as ``multipart/form-data`` with the
JSON representation in a form field named after the resource (``locution``) and each file in
a part named after its field (``OriginalFile``); plain JSON bodies work too (no file).
Downloads are served at ``/<resource>/{id}/<field>``.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile

from polyvox.api.engine import Resource, check_text
from polyvox.api.errors import ApiError, invalid
from polyvox.db.model import stored_files

MAX_UPLOAD = 64 * 1024 * 1024


def file_fields(res: Resource) -> dict[str, str]:
    """lower-case field name -> field name, for the resource's file fields."""
    return {name.lower(): name for name, f in res.ent.fields.items() if f.is_file}


# ---------------------------------------------------------------------------------------------
# request bodies

MAX_DEPTH = 32


def media_type(request: Request) -> str:
    """The request's media type, lower case, without parameters ('' when none is sent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json(mtype: str) -> bool:
    return mtype in ("application/json", "application/ld+json") or mtype.endswith("+json")


def is_form(mtype: str) -> bool:
    return mtype in ("application/x-www-form-urlencoded", "multipart/form-data")


def _not_json(mtype: str) -> ApiError:
    return ApiError(415, f"The request body must be JSON (Content-Type: application/json), "
                         f"not {mtype or 'a body without Content-Type'}.")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(raw: bytes | str, where: str = "body") -> Any:
    """Parse a JSON document and check that every value in it can be stored."""
    try:
        data = json.loads(raw, parse_constant=_constant)
    except RecursionError as e:
        raise invalid(where, f"The JSON document is nested too deeply (at most {MAX_DEPTH} levels).") from e
    except UnicodeDecodeError as e:
        raise invalid(where, "The JSON document is not valid UTF-8.") from e
    except ValueError as e:
        raise ApiError(400, f"Syntax error in the JSON {where}: {e}", field=None if where == "body" else where) from e
    check_values(data, where)
    return data


def check_values(data: Any, where: str = "body") -> None:
    """Nesting depth and text of a decoded document (iterative: any depth is safe to walk)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise invalid(path or where, f"The JSON document is nested too deeply (at most {MAX_DEPTH} levels).")
        if isinstance(value, str):
            check_text(path or where, value)
        elif isinstance(value, dict):
            for k, v in value.items():
                check_text(f"{path}.{k}" if path else k, k)
                stack.append((v, f"{path}.{k}" if path else k, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))


async def read_json(request: Request) -> Any:
    """The JSON document of the body (415 when the body is not JSON, 400 when empty)."""
    raw = await request.body()
    mtype = media_type(request)
    if not raw:
        raise ApiError(400, "The request body is empty; a JSON document is expected.")
    if not is_json(mtype):
        raise _not_json(mtype)
    return decode_json(raw)


async def read_object(request: Request) -> dict[str, Any]:
    """A JSON object body, without JSON-LD keys (``@id``, ``@type``... as read back)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return {k: v for k, v in data.items() if not k.startswith("@")}


async def read_params(request: Request) -> dict[str, Any]:
    """Form fields, a JSON object body or the query string, merged (body first)."""
    mtype = media_type(request)
    out: dict[str, Any] = {}
    if is_form(mtype):
        form = await request.form()
        for k, v in form.multi_items():
            if isinstance(v, str):
                check_text(k, v)
            out.setdefault(k, v)
    elif await request.body():
        out.update(await read_object(request))
    for k, v in request.query_params.items():
        check_text(k, v)
        out.setdefault(k, v)
    return out


async def read_form(request: Request) -> dict[str, str]:
    """Text parameters (login, token refresh and exchange): a form, a JSON object of scalars or
    the query string."""
    out: dict[str, str] = {}
    for k, v in (await read_params(request)).items():
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise invalid(k, "This value should be of type string.")
        out[k] = str(v)
    return out


async def read_body(request: Request, res: Resource) -> tuple[Any, dict[str, tuple[str, str, bytes]]]:
    """The JSON body and the uploaded files (field -> (filename, mime type, content))."""
    if media_type(request) != "multipart/form-data":
        return await read_object(request), {}
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
            body = decode_json(value, key)
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
