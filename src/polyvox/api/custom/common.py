"""Helpers shared by the custom operations: registration with an OpenAPI description,
parameter reading, scoped collections and ad-hoc representations."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from polyvox.api import files, query
from polyvox.api.auth import Principal
from polyvox.api.engine import Engine, Resource, as_int, check_privilege, parse_scalar
from polyvox.api.errors import ApiError, invalid
from polyvox.db import policy
from polyvox.db.model import ENTITY

if TYPE_CHECKING:
    from polyvox.api.app import LevelApi

JSON = "application/json"
JSONLD = "application/ld+json"
CSV = "text/csv"

Add = Callable[[str, str, Any, str], None]


# ---------------------------------------------------------------------------------------------
# registration


def route(api: LevelApi, add: Add, method: str, path: str, handler: Any, summary: str, *,
          params: list[dict[str, Any]] | None = None, form: dict[str, dict[str, Any]] | None = None,
          body: dict[str, Any] | None = None, responses: dict[str, Any] | None = None,
          public: bool = False) -> None:
    """Register one operation and describe it in the level's OpenAPI document."""
    add(method, path, handler, summary)
    spec: dict[str, Any] = api.extra_ops[-1]["spec"]
    spec["operationId"] = f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}"
    names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    for prm in params or []:
        parameters.append({"in": "query", "required": False, "schema": {"type": "string"}, **prm})
    if parameters:
        spec["parameters"] = parameters
    if form is not None:
        required = [k for k, v in form.items() if v.get("required")]
        props = {k: {kk: vv for kk, vv in v.items() if kk != "required"} for k, v in form.items()}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        spec["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": schema}, "multipart/form-data": {"schema": schema},
            "application/json": {"schema": schema}}}
    if body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if responses:
        spec["responses"] = responses
    if public:
        spec["security"] = []
    _fix_refs(api, spec)


def _fix_refs(api: LevelApi, node: Any) -> None:
    """Point only at schemas the level's document defines (``<Entity>``, and ``-detailed`` /
    ``-collection`` for exposed resources); describe any other named definition inline."""
    if isinstance(node, list):
        for item in node:
            _fix_refs(api, item)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        base, _, suffix = name.partition("-")
        res = api.engine.resources.get(base)
        if res is None or (suffix and (suffix not in ("detailed", "collection") or not res.ops)):
            del node["$ref"]
            node.update({"type": "object", "description": f"{name} of the IvozProvider contract"})
        return
    for value in node.values():
        _fix_refs(api, value)


def ok(description: str, schema: dict[str, Any] | None = None, status: str = "200",
       errors: tuple[str, ...] = ("400", "404")) -> dict[str, Any]:
    out: dict[str, Any] = {status: {"description": description}}
    if schema is not None:
        out[status]["content"] = {JSON: {"schema": schema}}
    texts = {"400": "Invalid input", "403": "Forbidden", "404": "Resource not found",
             "503": "A platform role the answer needs (e.g. proxy-trunks) cannot be reached"}
    for code in errors:
        out[code] = {"description": texts.get(code, "Error")}
    return out


def obj(**props: str) -> dict[str, Any]:
    """A small JSON schema of an answer: ``obj(name="string", total="integer")``; any member may
    be null."""
    return {"type": "object", "properties": {k: {"type": v, "nullable": True} for k, v in props.items()}}


def array_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


# ---------------------------------------------------------------------------------------------
# request reading


# the one body reader (polyvox.api.files), under the names the custom operations use
read_params = files.read_params
read_json = files.read_json


def int_param(value: Any, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    if value is None or value == "":
        if required:
            raise invalid(name, "This value should not be blank.")
        return None
    return as_int(name, value, minimum=minimum)


def query_int(request: Request, name: str) -> int | None:
    return int_param(request.query_params.get(name), name)


def negotiate(request: Request, allow_csv: bool = True) -> str:
    """The response format of the request (the same negotiation as every CRUD operation)."""
    from polyvox.api.app import _format

    return _format(request, allow_csv)


# ---------------------------------------------------------------------------------------------
# representations


def view(base: Resource, fields: tuple[str, ...]) -> Resource:
    """The same resource with another field set (a named representation of the contract)."""
    return replace(base, collection=fields, item=fields)


def resource(api: LevelApi, entity: str) -> Resource:
    """The level's resource for ``entity``, or a field-less view of it when the level has none."""
    res = api.engine.resources.get(entity)
    if res is not None:
        return res
    return Resource(api.level, ENTITY[entity], (), (), (), (), (), ())


def plain(res: Resource) -> tuple[str, ...]:
    """The contract's plain definition of an entity (``#/definitions/<Entity>``)."""
    return res.simple or res.write or res.item or res.collection


def jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    return v


# ---------------------------------------------------------------------------------------------
# collections


def collection(api: LevelApi, request: Request, res: Resource, p: Principal,
               build: Callable[[Connection], Select[Any]], fields: tuple[str, ...], *,
               expand: bool = False, privilege: Resource | None = None,
               after: Callable[[Connection, Any, dict[str, Any]], dict[str, Any]] | None = None,
               filterable: tuple[str, ...] | None = None) -> Response:
    """A scoped list with the API's filters, ordering, paging and formats.

    ``build`` returns the (already scoped and restricted) select of rows of ``res``. Filters
    and ordering are allowed on ``filterable`` (default: the listed fields), never on secrets.
    """
    fmt = negotiate(request)
    check_filters(res, request, fields if filterable is None else filterable)
    q = query.parse(res, list(request.query_params.multi_items()))
    out_fields = query.check_properties(res, q.properties, fields)

    def do(c: Connection) -> tuple[int, list[dict[str, Any]]]:
        check_privilege(c, p, privilege or res, "list")
        sel = query.apply(res, q, build(c))
        total, rows = query.fetch_page(c, sel, q)
        items = []
        for row in rows:
            item = api.engine.row_to_dict(c, res, row, out_fields, expand=expand)
            items.append(after(c, row, item) if after else item)
        return total, items

    total, items = api.run(do)
    headers = query.paging_headers(request.url.path, list(request.query_params.multi_items()), q, total)
    return api.render_collection(res, items, fmt, headers, total, out_fields)


def check_filters(res: Resource, request: Request, allowed: tuple[str, ...]) -> None:
    """Refuse filters and orderings on fields the list does not show (or on secrets): a filter
    is a way to read a value (``pass[start]=...``, a partner's ``balance[gt]=...``)."""
    ok_fields = {"id", *allowed} - {name for ent, name in policy.PASSWORD_FIELDS if ent == res.name}
    for key in request.query_params:
        if key.startswith(("_order[", "exists[")):
            name = key[7:].rstrip("]")
        elif key.startswith("_"):
            continue  # paging, _properties, _includeId...
        else:
            name = key
        base = name.split("[", 1)[0].split(".", 1)[0]
        if base not in ok_fields:
            raise invalid(key, "Unknown filter field." if res.fdef(base) is None else
                          "This field cannot be used to filter this list.")


def item_response(api: LevelApi, request: Request, res: Resource, item: dict[str, Any], status: int = 200) -> Response:
    return api.render_item(res, item, negotiate(request, allow_csv=False), status=status)


def scoped(api: LevelApi, entity: str, p: Principal) -> Select[Any]:
    """Rows of ``entity`` visible to ``p`` (the engine's tenancy)."""
    return api.engine.base_select(resource(api, entity), p)


def json_list(items: list[dict[str, Any]], status: int = 200) -> JSONResponse:
    return JSONResponse(items, status_code=status, headers={"X-Total-Items": str(len(items)),
                                                            "X-Total-Pages": "1"})


# ---------------------------------------------------------------------------------------------
# writes


def client_principal(p: Principal, company_id: int, brand_id: int | None) -> Principal:
    """The tenancy of one client, to validate writes made on its behalf by a brand operator
    (mass imports) or by one of its users."""
    return Principal(level="client", username=p.username, brand_id=brand_id, company_id=company_id,
                     on_behalf_of=p.on_behalf_of or p.username)


def write_row(engine: Engine, conn: Connection, res: Resource, p: Principal, body: dict[str, Any],
              ident: int | None = None, extra: dict[str, Any] | None = None) -> int:
    """Create (``ident`` None) or update a row with the engine's parsing, owner and validators.

    Unlike ``Engine.create`` the contract's required fields are not demanded: importers fill
    their own defaults (``extra`` holds raw column values set after parsing).
    """
    values, m2m = engine.parse_body(conn, res, p, body, "update")
    if ident is None:
        for name in res.write:
            f = res.fdef(name)
            if f is not None and f.kind == "scalar" and f.column and f.column not in values and f.default is not None:
                values[f.column] = parse_scalar(f, name, f.default)
    values.update(extra or {})
    if ident is None:
        engine.set_owner(res, p, values)
        return int(engine.persist(conn, res, p, None, values, m2m).id)
    row = conn.execute(select(res.table).where(res.table.c.id == ident)).first()
    assert row is not None
    engine.persist(conn, res, p, dict(row._mapping), values, m2m)
    return ident


# ---------------------------------------------------------------------------------------------
# CSV imports (all-or-nothing, per-line report)


class ImportFailed(ApiError):
    """A CSV import with failing lines: nothing is written; every failing line is reported.

    The body is problem+json and also carries the contract's ``*MassImport`` fields
    (``success`` false, ``errorMsg`` "line => reason" lines, ``failed`` count).
    """

    def __init__(self, errors: dict[int, str]) -> None:
        self.errors = dict(sorted(errors.items()))
        lines = ", ".join(str(n) for n in self.errors)
        super().__init__(400, f"The CSV file was not imported: {len(self.errors)} line(s) failed ({lines}).",
                         violations=[{"propertyPath": f"csv[{n}]", "message": m} for n, m in self.errors.items()])

    def response(self) -> JSONResponse:
        resp = super().response()
        body = json.loads(bytes(resp.body))
        body.update(success=False, failed=len(self.errors),
                    errorMsg="\n".join(f"{n} => {m}" for n, m in self.errors.items()))
        return JSONResponse(body, status_code=self.status, media_type="application/problem+json")


def import_ok() -> JSONResponse:
    return JSONResponse({"success": True, "errorMsg": "", "failed": 0}, status_code=201)


def run_lines(conn: Connection, lines: list[tuple[int, list[str]]],
              fn: Callable[[int, list[str]], None]) -> None:
    """Apply ``fn`` to each CSV line inside its own savepoint; raise ImportFailed listing every
    failing line (the caller's transaction then rolls everything back)."""
    errors: dict[int, str] = {}
    if conn.dialect.name == "sqlite":
        # pysqlite opens its transaction lazily, at the first write: a savepoint opened before
        # would be the outermost transaction and its release would commit.
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:  # type: ignore[attr-defined]
            conn.exec_driver_sql("BEGIN")
    for number, cells in lines:
        sp = conn.begin_nested()
        try:
            fn(number, cells)
        except ApiError as e:
            sp.rollback()
            detail = e.detail if not e.field or e.field.startswith("csv") else f"{e.field}: {e.detail}"
            errors[number] = detail
            continue
        except ValueError as e:
            sp.rollback()
            errors[number] = str(e)
            continue
        sp.commit()
    if errors:
        raise ImportFailed(errors)


async def read_csv_upload(request: Request, field: str = "csv") -> tuple[str, dict[str, Any]]:
    """The uploaded CSV text (multipart file or plain form/JSON field) and the other fields."""
    ctype = request.headers.get("content-type", "")
    fields: dict[str, Any] = {}
    text: str | None = None
    if "multipart/form-data" in ctype or "x-www-form-urlencoded" in ctype:
        form = await request.form()
        for k, v in form.multi_items():
            if k == field:
                if hasattr(v, "read"):
                    raw = await v.read()
                    text = _decode(raw)
                else:
                    text = str(v)
            else:
                fields.setdefault(k, v)
    elif "json" in ctype:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        text = data.pop(field, None)
        fields.update(data)
    elif "text/csv" in ctype or "text/plain" in ctype:
        text = _decode(await request.body())
    for k, v in request.query_params.items():
        fields.setdefault(k, v)
    if text is None or not str(text).strip():
        raise invalid(field, "A CSV file is required.")
    return str(text), fields


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise invalid("csv", "The CSV file must be UTF-8 text.")  # pragma: no cover (latin-1 always decodes)


def csv_lines(text: str, *, delimiter: str = ",", quotechar: str = '"') -> list[tuple[int, list[str]]]:
    """Non-empty CSV records with their 1-based line numbers."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar)
    out: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for row in reader:
            number = start
            start = reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            out.append((number, [c.strip() for c in row]))
    except csv.Error as e:
        raise ImportFailed({reader.line_num: f"malformed CSV: {e}"}) from e
    if len(out) > 10000:
        raise invalid("csv", "At most 10000 lines can be imported at once.")
    return out
